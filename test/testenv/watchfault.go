package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// WatchFault is a reverse proxy in front of the API server that makes a watch expire
// in the middle of a wait, as a real API server does when the resourceVersion a
// client watches from has been compacted away (410 Gone, "too old resource
// version").
//
// Watches of Path (the URL path of a collection, e.g.
// /apis/apps/v1/namespaces/NS/statefulsets) are forwarded event by event until one
// carries the event Expire picks (the one the waiter waits for). Instead of that
// event the watch ends: with an ERROR event holding a 410 Expired Status when
// ErrorEvent is set, else by closing. The next watch request of Path is answered 410
// Expired, as the API server answers a watch from a resourceVersion it no longer
// has. Everything else, and every later request, is forwarded unchanged. A waiter
// sees the event it missed only by getting the current state again. With Expire
// nil, nothing expires: AwaitWatching still tells when a watch has started.
type WatchFault struct {
	Path       string
	Expire     func(eventType string, obj *unstructured.Unstructured) bool
	ErrorEvent bool

	mu       sync.Mutex
	state    faultState
	watching chan struct{} // closed when the API server accepted a watch of Path
	expired  chan struct{} // closed when the next watch was answered 410
	once     sync.Once
}

type faultState int

const (
	faultPending  faultState = iota // forwarding, looking for the event
	faultInjected                   // the watch ended; the next one gets 410
	faultDone                       // forwarding everything
)

// Start starts the proxy in front of cfg's API server until the test ends and
// returns a client configuration for it (no client-side rate limit).
func (f *WatchFault) Start(tb testing.TB, cfg *rest.Config) *rest.Config {
	tb.Helper()
	f.once.Do(func() {
		f.watching, f.expired = make(chan struct{}), make(chan struct{})
	})
	target, err := url.Parse(cfg.Host)
	if err != nil {
		tb.Fatal(err)
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	rp.FlushInterval = -1 // stream watches
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != f.Path || r.URL.Query().Get("watch") != "true" {
			rp.ServeHTTP(w, r)
			return
		}
		switch f.current() {
		case faultPending:
			f.forward(w, r, transport, target)
		case faultInjected:
			f.answerExpired(w)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	tb.Cleanup(func() {
		srv.CloseClientConnections() // a lingering watch would hold Close
		srv.Close()
	})
	return &rest.Config{Host: srv.URL, QPS: -1}
}

func (f *WatchFault) current() faultState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// forward relays one watch event by event until the event Expire picks.
func (f *WatchFault) forward(w http.ResponseWriter, r *http.Request, transport http.RoundTripper, target *url.URL) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.Scheme+"://"+target.Host+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.Header.Set("Accept", "application/json") // events this proxy can read…
	out.Header.Del("Accept-Encoding")            // …uncompressed
	resp, err := transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	flush()
	f.mu.Lock()
	select {
	case <-f.watching:
	default:
		close(f.watching)
	}
	f.mu.Unlock()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return // the server or the client ended the watch
		}
		if f.picks(ev.Type, ev.Object) {
			if f.ErrorEvent {
				_, _ = fmt.Fprintf(w, `{"type":"ERROR","object":%s}`+"\n", expiredStatus)
				flush()
			}
			return
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return
		}
		flush()
	}
}

// picks reports whether the event is the one to fault at, claiming the fault.
func (f *WatchFault) picks(eventType string, raw json.RawMessage) bool {
	u := &unstructured.Unstructured{}
	if f.Expire == nil || u.UnmarshalJSON(raw) != nil || !f.Expire(eventType, u) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != faultPending {
		return false
	}
	f.state = faultInjected
	return true
}

func (f *WatchFault) answerExpired(w http.ResponseWriter) {
	f.mu.Lock()
	first := f.state == faultInjected
	f.state = faultDone
	f.mu.Unlock()
	if first {
		defer close(f.expired)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusGone)
	_, _ = w.Write([]byte(expiredStatus))
}

const expiredStatus = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
	`"message":"too old resource version: 1 (2)","reason":"Expired","code":410}`

// AwaitWatching waits until the API server has accepted a watch of Path (the
// waiter is watching: a change made now reaches it through the watch), failing the
// test after timeout.
func (f *WatchFault) AwaitWatching(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	select {
	case <-f.watching:
	case <-time.After(timeout):
		tb.Fatalf("testenv: no watch of %s within %s", f.Path, timeout)
	}
}

// Expired reports whether the fault happened: a watch ended instead of delivering
// the event Expire picked, and the next watch was answered 410.
func (f *WatchFault) Expired() bool {
	select {
	case <-f.expired:
		return true
	default:
		return false
	}
}
