package redact

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/url"
	"sort"
	"sync"
)

// Mask replaces a secret in output.
const Mask = "(redacted)"

// minLen: shorter values are not registered (they would mask ordinary text).
const minLen = 8

// Set is a set of secret values. The zero value is ready; it is safe for
// concurrent use.
type Set struct {
	mu      sync.RWMutex
	secrets map[string]struct{}
	ordered [][]byte // longest first, so that a longer form wins over its substring
}

// Add registers secret values and their encoded forms.
func (s *Set) Add(secrets ...string) {
	for _, secret := range secrets {
		s.add(secret)
	}
}

func (s *Set) add(secret string) {
	if len(secret) < minLen {
		return
	}
	forms := []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
		url.QueryEscape(secret),
		url.PathEscape(secret),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[string]struct{}{}
	}
	changed := false
	for _, f := range forms {
		if _, ok := s.secrets[f]; !ok {
			s.secrets[f] = struct{}{}
			changed = true
		}
	}
	if !changed {
		return
	}
	s.ordered = s.ordered[:0]
	for f := range s.secrets {
		s.ordered = append(s.ordered, []byte(f))
	}
	sort.Slice(s.ordered, func(i, j int) bool { return len(s.ordered[i]) > len(s.ordered[j]) })
}

// Bytes returns b with every registered secret replaced by Mask.
func (s *Set) Bytes(b []byte) []byte {
	if s == nil {
		return b
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.ordered {
		if bytes.Contains(b, f) {
			b = bytes.ReplaceAll(b, f, []byte(Mask))
		}
	}
	return b
}

// String returns str with every registered secret replaced by Mask.
func (s *Set) String(str string) string { return string(s.Bytes([]byte(str))) }

// Writer returns w wrapped so that every write is redacted. Each Write is redacted
// on its own; dbctl writes whole lines or whole documents.
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{set: s, w: w} }

type writer struct {
	set *Set
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.set.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
