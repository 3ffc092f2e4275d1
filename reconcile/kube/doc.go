// Package kube builds dbctl's cluster clients: one scheme with the kinds dbctl
// touches, a static RESTMapper (no discovery round-trips at start), and a counting
// http.RoundTripper that records API requests by verb. It is also the one home of
// dbctl's watches (watch.go): ListWatch, WaitFor and Inform, on client-go's
// informers, which survive an expired resourceVersion.
package kube
