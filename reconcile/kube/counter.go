package kube

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// RequestCounter counts API requests by verb. Its zero value is ready to use and it
// is safe for concurrent use. Wrap a rest.Config's transport with Wrap.
type RequestCounter struct {
	mu     sync.Mutex
	byVerb map[string]*atomic.Int64
}

// Wrap returns rt wrapped so that every request is counted. It has the signature of
// rest.Config.WrapTransport.
func (c *RequestCounter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		c.add(verb(req))
		return rt.RoundTrip(req)
	})
}

func (c *RequestCounter) add(v string) {
	c.mu.Lock()
	if c.byVerb == nil {
		c.byVerb = map[string]*atomic.Int64{}
	}
	n, ok := c.byVerb[v]
	if !ok {
		n = new(atomic.Int64)
		c.byVerb[v] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

// Counts returns a snapshot of the counts by verb (GET, LIST, WATCH, POST, PATCH, PUT, DELETE).
func (c *RequestCounter) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.byVerb))
	for v, n := range c.byVerb {
		out[v] = n.Load()
	}
	return out
}

// Total is the number of requests counted.
func (c *RequestCounter) Total() int64 {
	var t int64
	for _, n := range c.Counts() {
		t += n
	}
	return t
}

// String renders the counts as "total 7 (GET 1, PATCH 6)".
func (c *RequestCounter) String() string {
	counts := c.Counts()
	verbs := make([]string, 0, len(counts))
	var total int64
	for v, n := range counts {
		verbs = append(verbs, fmt.Sprintf("%s %d", v, n))
		total += n
	}
	sort.Strings(verbs)
	return fmt.Sprintf("total %d (%s)", total, strings.Join(verbs, ", "))
}

// verb names a request the way the API server's audit log does: GET on a collection
// is LIST, ?watch=true is WATCH.
func verb(req *http.Request) string {
	if req.Method != http.MethodGet {
		return req.Method
	}
	q := req.URL.Query()
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		return "WATCH"
	}
	// /api/v1/namespaces/ns/secrets is a collection, /api/v1/namespaces/ns/secrets/x is not.
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	n := len(parts)
	if n > 0 && (parts[0] == "api" && n%2 == 1 || parts[0] == "apis" && n%2 == 0) {
		return "LIST"
	}
	return "GET"
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
