package redact

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestSetMasksEveryForm(t *testing.T) {
	const pw = "p@ss/w0rd+with=specials"
	var s Set
	s.Add(pw)
	s.Add("short") // too short to register: ordinary text must survive
	for name, form := range map[string]string{
		"raw":        pw,
		"base64":     base64.StdEncoding.EncodeToString([]byte(pw)),
		"base64 raw": base64.RawStdEncoding.EncodeToString([]byte(pw)),
		"base64url":  base64.URLEncoding.EncodeToString([]byte(pw)),
		"query":      url.QueryEscape(pw),
		"path":       url.PathEscape(pw),
	} {
		got := s.String("before " + form + " after")
		if got != "before "+Mask+" after" {
			t.Errorf("%s: %q", name, got)
		}
	}
	if got := s.String("a short word"); got != "a short word" {
		t.Errorf("short values are masked: %q", got)
	}
}

func TestWriter(t *testing.T) {
	var s Set
	var b bytes.Buffer
	w := s.Writer(&b)
	s.Add("0123456789abcdef")
	n, err := w.Write([]byte("uri: postgresql://app:0123456789abcdef@db:5432/app\n"))
	if err != nil || n != len("uri: postgresql://app:0123456789abcdef@db:5432/app\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if strings.Contains(b.String(), "0123456789abcdef") || !strings.Contains(b.String(), Mask) {
		t.Errorf("written: %q", b.String())
	}
	var nilSet *Set
	if got := nilSet.String("x"); got != "x" {
		t.Errorf("nil set: %q", got)
	}
}
