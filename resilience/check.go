package resilience

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"

	"github.com/dbctl-io/dbctl/reconcile/redact"
)

// Limits of HTTPCheck.
const (
	// MaxRedirects is the number of redirects HTTPCheck follows.
	MaxRedirects = 3
	// MaxBodyBytes is how much of a response body HTTPCheck reads (and discards).
	MaxBodyBytes = 64 << 10
)

// StatusError is returned by HTTPCheck when the dependency answers with a status
// outside 2xx.
type StatusError struct {
	// URL is the checked URL, redacted.
	URL        string
	StatusCode int
	Status     string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: unexpected status %s", e.URL, e.Status)
}

// httpClient is shared by every HTTPCheck: TLS verified against the system roots,
// proxy from the environment (HTTPS_PROXY, NO_PROXY …), at most MaxRedirects
// redirects and never from https to http, no keep-alive (each check is a fresh
// connection, which is what a health check should exercise).
var httpClient = sync.OnceValue(func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.DisableKeepAlives = true
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("refusing a redirect from https to " + req.URL.Scheme)
			}
			return nil
		},
	}
})

// HTTPCheck returns a check that GETs rawURL and is healthy on a 2xx status (else a
// *StatusError). The context bounds the whole request. Credentials in the URL's
// userinfo are sent as basic authentication but never appear in errors, nor does
// the query string.
func HTTPCheck(rawURL string) func(context.Context) error {
	redacted := redact.URL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message does not repeat the URL
		}
		err = fmt.Errorf("invalid URL %s: %w", redacted, redactError(err))
		return func(context.Context) error { return err }
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		err := fmt.Errorf("invalid URL %s: want http:// or https:// and a host", redacted)
		return func(context.Context) error { return err }
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", redacted, redactError(unwrapURLError(err)))
		}
		req.Header.Set("User-Agent", "dbctl")
		resp, err := httpClient().Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", redacted, redactError(unwrapURLError(err)))
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return &StatusError{URL: redacted, StatusCode: resp.StatusCode, Status: resp.Status}
		}
		return nil
	}
}

// unwrapURLError drops the *url.Error around a client error: its message repeats
// the URL (with the query string), which HTTPCheck's errors name redacted instead.
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.Err != nil {
		return uerr.Err
	}
	return err
}

// TCPCheck returns a check that opens a TCP connection to hostport within the
// context's deadline, and closes it.
func TCPCheck(hostport string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", hostport)
		if err != nil {
			return redactError(err)
		}
		return conn.Close()
	}
}

// redactedError shows a redacted message and unwraps to the original error, so
// that errors.Is(err, context.DeadlineExceeded) still holds.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := redact.Text(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}
