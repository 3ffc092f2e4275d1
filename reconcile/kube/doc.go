// Package kube builds dbctl's cluster clients: one scheme with the kinds dbctl
// touches, a static RESTMapper (no discovery round-trips at start), and a counting
// http.RoundTripper that records API requests by verb.
package kube
