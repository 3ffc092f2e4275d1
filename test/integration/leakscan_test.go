package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
)

// minSecretLen is the shortest secret assertNoSecret accepts: a shorter one would be
// found in outputs by chance.
const minSecretLen = 6

// assertNoSecret fails t when haystack holds any of secrets in a form a leak takes:
// raw; base64 in the standard and URL alphabets, padded or not, also as part of a
// longer encoded value (a Secret's "uri" key embeds the password: its base64 depends
// on where the password starts, so each of the three alignments is searched); URL-
// escaped (query and path escaping); JSON-escaped. An empty secret is ignored (it was
// not set); one shorter than minSecretLen is a mistake of the test.
//
// The report never repeats a secret: it says which secret (by position) in which
// form, and where, with the secret masked in the surrounding text. A test log is an
// output too.
func assertNoSecret(t testing.TB, haystack string, secrets ...string) {
	t.Helper()
	for i, secret := range secrets {
		if secret == "" {
			continue
		}
		if len(secret) < minSecretLen {
			t.Fatalf("assertNoSecret: secret #%d has %d bytes, fewer than %d: it would match by chance", i+1, len(secret), minSecretLen)
		}
		for _, f := range secretForms(secret) {
			if at := strings.Index(haystack, f.text); at >= 0 {
				t.Errorf("secret #%d (%d bytes) appears %s at byte %d of the output: ...%s...",
					i+1, len(secret), f.name, at, maskedContext(haystack, at, len(f.text)))
			}
		}
	}
}

// assertNoSecretInFile is assertNoSecret on a file's content (a breaker state file,
// a log); a missing file holds no secret.
func assertNoSecretInFile(t testing.TB, path string, secrets ...string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatalf("assertNoSecretInFile: %v", err)
	}
	assertNoSecret(t, string(data), secrets...)
}

type secretForm struct{ name, text string }

// secretForms are the texts that would reveal secret.
func secretForms(secret string) []secretForm {
	forms := []secretForm{{"raw", secret}}
	add := func(name, text string) {
		if len(text) < 4 {
			return // too short to mean anything
		}
		for _, f := range forms {
			if f.text == text {
				return
			}
		}
		forms = append(forms, secretForm{name, text})
	}
	encodings := []struct {
		name string
		enc  *base64.Encoding
	}{
		{"base64", base64.StdEncoding}, {"base64 (raw)", base64.RawStdEncoding},
		{"base64url", base64.URLEncoding}, {"base64url (raw)", base64.RawURLEncoding},
	}
	for _, e := range encodings {
		add("as "+e.name, e.enc.EncodeToString([]byte(secret)))
	}
	// Inside a longer encoded value: the characters that depend only on the secret's
	// bytes, for each alignment of its first byte in a 3-byte group. The padded and
	// raw forms share them: two alphabets suffice.
	for _, e := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.RawStdEncoding}, {"base64url", base64.RawURLEncoding}} {
		for k := 0; k < 3; k++ {
			b := append(make([]byte, k), secret...)
			full := len(b) / 3 * 4 // whole groups only: the last one depends on what follows
			enc := e.enc.EncodeToString(b)[:full]
			if k > 0 {
				enc = enc[min(4, len(enc)):] // the first group mixes in what precedes
			}
			add("inside a longer "+e.name+" value", enc)
		}
	}
	add("URL-escaped (query)", url.QueryEscape(secret))
	add("URL-escaped (path)", url.PathEscape(secret))
	if b, err := json.Marshal(secret); err == nil {
		add("JSON-escaped", string(b[1:len(b)-1]))
	}
	return forms
}

// maskedContext is up to 40 bytes of s either side of [at, at+n), with that range
// masked.
func maskedContext(s string, at, n int) string {
	from, to := max(0, at-40), min(len(s), at+n+40)
	return strings.ReplaceAll(s[from:at]+"<SECRET>"+s[at+n:to], "\n", `\n`)
}

func TestAssertNoSecretFindsEveryForm(t *testing.T) {
	const secret = "s3cr3t-Pa55/word+with?odd&chars"
	uri := "postgres://app:" + secret + "@orders.shop.svc:5432/app"
	leaks := map[string]string{
		"raw":                     "password: " + secret,
		"base64":                  base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 raw":              base64.RawStdEncoding.EncodeToString([]byte(secret)),
		"base64url":               base64.URLEncoding.EncodeToString([]byte(secret)),
		"base64url raw":           base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"url query":               "?p=" + url.QueryEscape(secret),
		"url path":                "/" + url.PathEscape(secret),
		"json":                    `{"p":` + mustJSON(secret) + `}`,
		"uri base64, offset 0":    base64.StdEncoding.EncodeToString([]byte(uri)),
		"uri base64, offset 1":    base64.StdEncoding.EncodeToString([]byte("x" + uri)),
		"uri base64, offset 2":    base64.StdEncoding.EncodeToString([]byte("xy" + uri)),
		"uri base64url, offset 1": base64.RawURLEncoding.EncodeToString([]byte("x" + uri)),
	}
	for name, haystack := range leaks {
		t.Run(name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			assertNoSecret(rec, haystack, secret)
			if len(rec.errors) == 0 {
				t.Errorf("the leak was not found")
			}
			for _, e := range rec.errors {
				if strings.Contains(e, secret) || strings.Contains(e, base64.StdEncoding.EncodeToString([]byte(secret))[:12]) {
					t.Errorf("the report repeats the secret")
				}
			}
		})
	}
	clean := &recordingTB{TB: t}
	assertNoSecret(clean, "password: (sensitive value changed)\nuri: postgres://app:***@orders", secret, "")
	if len(clean.errors) > 0 {
		t.Errorf("a clean output was reported: %v", clean.errors)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// recordingTB records Errorf instead of failing, to test a helper's failures.
type recordingTB struct {
	testing.TB
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
