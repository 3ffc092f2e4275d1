package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pass@host/x?token=abc":           "https://host/x",
		"https://user@host:8443/x#frag":                "https://host:8443/x",
		"postgres://app:pw@db:5432/app?sslmode=verify": "postgres://db:5432/app",
		"http://host/x?":                               "http://host/x",
		"db.internal:5432":                             "db.internal:5432",
		"user:pw@db.internal:5432":                     "db.internal:5432",
		"https://u:p@[::1/x?token=abc":                 "https://[::1/x",
		"":                                             "",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`Get "https://u:p@h/x?token=abc": EOF`:        `Get "https://h/x": EOF`,
		"dial postgres://a:b@db:5432/x failed":        "dial postgres://db:5432/x failed",
		"host=db user=app password=hunter2 sslmode=x": "host=db user=app password=xxxxx sslmode=x",
		"connect app:hunter2@db:5432 refused":         "connect db:5432 refused",
		"token=abc&x=1":                               "token=xxxxx&x=1",
		"plain error: nothing to hide":                "plain error: nothing to hide",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}
