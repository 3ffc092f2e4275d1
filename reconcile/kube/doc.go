// Package kube holds what dbctl's cluster clients are made of and how their errors
// read: the scheme with the kinds dbctl touches, a static RESTMapper (no discovery
// round-trips at start), a counting http.RoundTripper that records API requests by
// verb, dbctl's field manager, and Explain, which turns API errors into messages
// that say what to do. cmd/cmdutil builds the clients from these.
package kube
