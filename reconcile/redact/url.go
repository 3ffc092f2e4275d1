package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// URL returns rawURL without userinfo, query string and fragment:
// "https://user:pass@host/x?token=abc" becomes "https://host/x". A string that is
// not a URL (host:port) is returned without anything up to an "@" and from a "?".
func URL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" && u.Host != "" {
		u.User = nil
		u.RawQuery, u.ForceQuery = "", false
		u.Fragment, u.RawFragment = "", ""
		return u.String()
	}
	// Not a parsable URL: cut by hand.
	s := rawURL
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	scheme := ""
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, s = s[:i+3], s[i+3:]
	}
	authority, path := s, ""
	if i := strings.Index(s, "/"); i >= 0 {
		authority, path = s[:i], s[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		authority = authority[i+1:]
	}
	return scheme + authority + path
}

var (
	urlInText      = regexp.MustCompile("[a-zA-Z][a-zA-Z0-9+.-]*://[^\\s\"'<>`]+")
	userinfoInText = regexp.MustCompile(`(^|[\s"'(=])[^\s/@:"'(=]+:[^\s/@"']*@`)
	secretInText   = regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|token|access_token|api[_-]?key|sslpassword)=[^\s&"']+`)
)

// Text redacts every URL in msg (as URL does), "user:password@" before a
// host, and key=value secrets (password=…, token=…).
func Text(msg string) string {
	msg = urlInText.ReplaceAllStringFunc(msg, URL)
	msg = userinfoInText.ReplaceAllString(msg, "$1")
	return secretInText.ReplaceAllString(msg, "$1=xxxxx")
}
