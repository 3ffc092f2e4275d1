package resilience

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPCheck2xxIsHealthy(t *testing.T) {
	for _, code := range []int{200, 204, 299} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.UserAgent() != "dbctl" {
				t.Errorf("%s with User-Agent %q", r.Method, r.UserAgent())
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte(strings.Repeat("ok", 1<<20))) // more than is read
		}))
		if err := HTTPCheck(srv.URL + "/healthz")(context.Background()); err != nil {
			t.Errorf("status %d: %v", code, err)
		}
		srv.Close()
	}
}

func TestHTTPCheckNon2xxIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	err := HTTPCheck(srv.URL + "/healthz")(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("HTTPCheck = %v", err)
	}
	if want := "GET " + srv.URL + "/healthz: unexpected status 500 Internal Server Error"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestHTTPCheckStopsARedirectLoopAfter3(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	}))
	defer srv.Close()
	err := HTTPCheck(srv.URL + "/loop")(context.Background())
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Fatalf("HTTPCheck = %v", err)
	}
	if got := requests.Load(); got != 4 {
		t.Fatalf("%d requests, want 4 (the first and 3 redirects)", got)
	}
}

func TestHTTPCheckFollowsUpTo3Redirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n == 0 {
			return
		}
		http.Redirect(w, r, "/r/"+strconv.Itoa(n-1), http.StatusMovedPermanently)
	}))
	defer srv.Close()
	if err := HTTPCheck(srv.URL + "/r/3")(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPCheckRejectsAnUntrustedCertificate(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	srv.Config.ErrorLog = nil
	defer srv.Close()
	err := HTTPCheck(srv.URL)(context.Background())
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &unknown) && !errors.As(err, &verify) {
		t.Fatalf("HTTPCheck = %v, want a certificate verification error", err)
	}
	if requests.Load() != 0 {
		t.Fatal("the request reached an untrusted server")
	}
}

func TestHTTPCheckHonoursTheTimeout(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := HTTPCheck(srv.URL)(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("HTTPCheck = %v, want a deadline error", err)
	}
}

func TestHTTPCheckErrorsHoldNoSecret(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://ci:s3cret@", 1) + "/health?token=abc"
	err := HTTPCheck(u)(context.Background())
	if err == nil || gotUser != "ci" || gotPass != "s3cret" {
		t.Fatalf("HTTPCheck = %v; basic auth %q:%q", err, gotUser, gotPass)
	}
	if want := "GET " + srv.URL + "/health: unexpected status 503 Service Unavailable"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}

	// A connection error and an invalid URL hold no secret either.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	for _, raw := range []string{
		"http://ci:s3cret@" + addr + "/x?token=abc",
		"http://ci:s3cret@host:notaport/x?token=abc",
		"ftp://ci:s3cret@host/x?token=abc",
		"https://ci:s3cret@[::1/x?token=abc",
	} {
		err := HTTPCheck(raw)(context.Background())
		if err == nil {
			t.Fatalf("%s: no error", raw)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "token") {
			t.Errorf("error holds a secret: %v", err)
		}
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
		close(accepted)
	}()
	if err := TCPCheck(ln.Addr().String())(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-accepted
	addr := ln.Addr().String()
	ln.Close()
	err = TCPCheck(addr)(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("TCPCheck of a closed port = %v", err)
	}
}

func TestTCPCheckHonoursTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := TCPCheck("127.0.0.1:1")(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("TCPCheck = %v", err)
	}
}
