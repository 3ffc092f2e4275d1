// Package load reads Database specs from files, directories and standard input,
// the way users of GitOps tools expect: strictly and all-or-nothing.
//
// Every document is parsed into a tree that keeps line numbers (YAML with
// go.yaml.in/yaml/v3, JSON with encoding/json's tokenizer), checked against the
// Go types the way the API server checks it against the CRD's structural schema
// (unknown fields, duplicate keys, types, required fields), decoded, given its
// namespace and defaults, and validated with v1alpha1's Validate, which applies
// the CRD's rules client-side. Any problem in any input fails the whole load with
// every error found, each naming the file, the line, the document and the field.
//
// Input comes from pull requests, so it is bounded: MaxFileSize, MaxDocuments,
// MaxDepth, MaxNodes and MaxValueBytes (the last two stop YAML alias bombs) limit
// the work done on one file; binary data is refused before parsing; parser panics
// become errors.
// Parameter values, annotation values and URL userinfo never appear in an error.
package load
