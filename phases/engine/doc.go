// Package engine renders every file a database pod runs: the server
// configuration and the bootstrap and readiness scripts of the ConfigMap
// <name>-config (SPEC §2, §7). Pure Go, no cluster access.
package engine
