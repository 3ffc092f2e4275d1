// Package kube holds what dbctl's cluster clients are made of and how their errors
// read: the scheme with the kinds dbctl touches, a static RESTMapper (no discovery
// round-trips at start), a counting http.RoundTripper that records API requests by
// verb, dbctl's field manager, and Explain, which turns API errors into messages
// that say what to do. cmd/cmdutil builds the clients from these. It is also the one
// home of dbctl's watches (watch.go): ListWatch, WaitFor and Inform, on client-go's
// informers, which survive an expired resourceVersion.
package kube
