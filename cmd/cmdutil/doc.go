// Package cmdutil holds what every dbctl command shares: the Factory that hands out
// IO streams and cluster clients, the typed errors that map to exit codes (SPEC §4),
// and the -f/NAME/--all input flags.
package cmdutil
