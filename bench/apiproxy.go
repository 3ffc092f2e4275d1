package main

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// apiProxy is a counting reverse proxy in front of the API server: the controller
// under test talks to it (HTTPS, HTTP/2, as to an API server) with a kubeconfig of
// its own, and it forwards every request with the harness's credentials. It records
// each request (time, verb, resource, the label selector of a LIST or WATCH, the
// status), so that the requests of a phase can be counted by verb and by resource,
// and any request at steady state named. It sees what the API server sees: one
// entry per request on the wire (client-go's retries included).
type apiProxy struct {
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []*proxiedRequest
	errors []string // requests the proxy could not forward
}

// proxiedRequest is one request seen by the proxy.
type proxiedRequest struct {
	At       time.Time
	Verb     string // GET, LIST, WATCH, POST, PUT, PATCH, DELETE
	Resource string // e.g. "secrets", "databases/status", "leases"
	Selector string // labelSelector of a LIST or WATCH
	// Namespace ("" for all namespaces or a cluster-scoped resource) and Name (of a
	// single object) name what the request reads or writes.
	Namespace, Name string
	Code            int
	Bytes           int64 // of the response body (a watch's so far)
}

// key names the request for a tally: "LIST secrets (app.kubernetes.io/managed-by=dbctl)";
// the value of an app.kubernetes.io/instance selector (one Database's) is left out.
func (r *proxiedRequest) key() string {
	k := r.Verb + " " + r.Resource
	if r.Selector != "" {
		k += " (" + instanceRE.ReplaceAllString(r.Selector, "${1}NAME") + ")"
	}
	return k
}

var instanceRE = regexp.MustCompile(`(app\.kubernetes\.io/instance=)[^,]+`)

// String is the request with the object it names: "PATCH events ns/name → 200".
func (r *proxiedRequest) String() string {
	obj := r.Name
	if r.Namespace != "" {
		obj = r.Namespace + "/" + r.Name
		if r.Name == "" {
			obj = "in " + r.Namespace
		}
	} else if r.Name == "" {
		obj = "in all namespaces"
	}
	return fmt.Sprintf("%s %s → %d", r.key(), obj, r.Code)
}

// startAPIProxy starts the proxy to the API server of cfg.
func startAPIProxy(cfg *rest.Config) (*apiProxy, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	upstream := rest.CopyConfig(cfg)
	upstream.QPS, upstream.Burst = -1, 0 // the transport has no limiter anyway
	rt, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, err
	}
	p := &apiProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     rt,
		FlushInterval: -1, // watches stream
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil { // not the client going away (a watch stopped)
				p.mu.Lock()
				p.errors = append(p.errors, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
				p.mu.Unlock()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := p.record(r)
		rp.ServeHTTP(&statusWriter{ResponseWriter: w, set: func(code int) { p.setCode(rec, code) }, add: func(n int) { p.addBytes(rec, n) }}, r)
	}))
	p.srv.EnableHTTP2 = true
	p.srv.StartTLS()
	return p, nil
}

func (p *apiProxy) record(r *http.Request) *proxiedRequest {
	rec := &proxiedRequest{At: time.Now(), Verb: auditVerb(r.Method, r.URL.String())}
	rec.Resource, rec.Namespace, rec.Name = resourceOf(r.URL.Path)
	if rec.Verb == "LIST" || rec.Verb == "WATCH" {
		rec.Selector = r.URL.Query().Get("labelSelector")
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, rec)
	p.mu.Unlock()
	return rec
}

func (p *apiProxy) setCode(rec *proxiedRequest, code int) {
	p.mu.Lock()
	if rec.Code == 0 {
		rec.Code = code
	}
	p.mu.Unlock()
}

func (p *apiProxy) addBytes(rec *proxiedRequest, n int) {
	p.mu.Lock()
	rec.Bytes += int64(n)
	p.mu.Unlock()
}

// statusWriter tells the proxy the status of a response (a watch's when it
// starts) and the size of its body.
type statusWriter struct {
	http.ResponseWriter
	set func(int)
	add func(int)
}

func (w *statusWriter) WriteHeader(code int) {
	w.set(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.set(http.StatusOK)
	n, err := w.ResponseWriter.Write(b)
	w.add(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// between returns the requests seen at or after t (and before until, when not zero).
func (p *apiProxy) between(t, until time.Time) []proxiedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []proxiedRequest
	for _, r := range p.reqs {
		if !r.At.Before(t) && (until.IsZero() || r.At.Before(until)) {
			out = append(out, *r)
		}
	}
	return out
}

// writeKubeconfig writes a kubeconfig that reaches the API server through the proxy.
func (p *apiProxy) writeKubeconfig(path string) error {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: bench-proxy
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: bench-proxy
  context: {cluster: bench-proxy, user: bench-proxy}
current-context: bench-proxy
users:
- name: bench-proxy
  user: {}
`, p.srv.URL, base64.StdEncoding.EncodeToString(ca))
	return os.WriteFile(path, []byte(kc), 0o600)
}

func (p *apiProxy) close() { p.srv.Close() }

// resourceOf is the resource (and subresource), namespace and name of an API path:
// /api/v1/namespaces/ns/secrets/x → secrets, ns, x; /apis/dbctl.io/v1alpha1/namespaces/ns/databases/x/status
// → databases/status, ns, x; discovery and other paths are returned as they are.
func resourceOf(path string) (resource, namespace, name string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return path, "", ""
	}
	if len(rest) > 2 && rest[0] == "namespaces" {
		namespace, rest = rest[1], rest[2:]
	}
	switch len(rest) {
	case 0:
		return path, "", ""
	case 1:
		return rest[0], namespace, ""
	case 2:
		return rest[0], namespace, rest[1]
	default:
		return rest[0] + "/" + rest[2], namespace, rest[1]
	}
}

// tally counts requests by verb, and by verb, resource and selector, and the
// bytes of their responses by the same key.
func tally(reqs []proxiedRequest) (byVerb, byKey, bytesByKey map[string]int64) {
	byVerb, byKey, bytesByKey = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for i := range reqs {
		byVerb[reqs[i].Verb]++
		byKey[reqs[i].key()]++
		bytesByKey[reqs[i].key()] += reqs[i].Bytes
	}
	return byVerb, byKey, bytesByKey
}

// sortedKeys returns the keys of m, the largest count first.
func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
