package reconcile

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/resilience"
)

// TestDependencyMessages: each message names the dependency and its target once,
// without the URL's credentials.
func TestDependencyMessages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	d := &DependencyChecker{Guard: &resilience.Guard{
		Limiters: resilience.NewLimiters(1000, 10),
		Store:    resilience.NewStore(filepath.Join(t.TempDir(), "breakers.json"), func(string) {}),
		Settings: resilience.Settings{Threshold: 5, Cooldown: time.Minute},
	}}
	second := metav1.Duration{Duration: time.Second}
	tests := map[string]struct {
		dep    v1alpha1.Dependency
		target string
	}{
		"http 503":         {v1alpha1.Dependency{Name: "api", URL: "http://u:s3cr3t@" + strings.TrimPrefix(srv.URL, "http://") + "/healthz?token=s3cr3t", Timeout: &second}, srv.URL + "/healthz"},
		"tcp refused":      {v1alpha1.Dependency{Name: "queue", TCP: closed, Timeout: &second}, closed},
		"tcp unknown host": {v1alpha1.Dependency{Name: "cache", TCP: "no-such-host.invalid:6379", Timeout: &second}, "no-such-host.invalid:6379"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db := &v1alpha1.Database{Spec: v1alpha1.DatabaseSpec{Dependencies: []v1alpha1.Dependency{tc.dep}}}
			msg := d.Check(context.Background(), db).Message()
			if !strings.HasPrefix(msg, `dependency "`+tc.dep.Name+`" unavailable: `) ||
				strings.Count(msg, tc.target) != 1 || strings.Contains(msg, "s3cr3t") {
				t.Errorf("message %q: want the dependency named, %s once, no credentials", msg, tc.target)
			}
		})
	}
}
