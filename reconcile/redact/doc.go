// Package redact is dbctl's last line of defence against printing a secret: a set
// of known secret values (every password dbctl reads or generates) and a writer that
// replaces them, in their raw, base64 and URL-escaped forms, before anything reaches
// stdout or stderr. Secrets are masked at the source too (plans, changes, errors);
// this catches what an API server error message might echo back.
package redact
