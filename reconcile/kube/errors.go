package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// FieldManager is the server-side apply field manager of every dbctl write.
const FieldManager = "dbctl"

// ErrCRDMissing is returned when the Database CRD is not installed.
var ErrCRDMissing = errors.New("the Database CRD (databases.dbctl.io) is not installed in this cluster: run 'dbctl install'")

// Explain rewrites API errors that have a clearer explanation for a dbctl user:
// a missing Database kind names `dbctl install`; Forbidden names the verb and
// resource dbctl needs. Other errors are returned unchanged.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	if meta.IsNoMatchError(err) || isDatabaseResourceNotFound(err) {
		return fmt.Errorf("%w", ErrCRDMissing)
	}
	var status apierrors.APIStatus
	if apierrors.IsForbidden(err) && errors.As(err, &status) {
		if verb, res := forbidden(status.Status().Message); verb != "" {
			return fmt.Errorf("forbidden: dbctl needs %s on %s (see config/rbac): %w", verb, res, err)
		}
		if d := status.Status().Details; d != nil {
			res := d.Kind
			if d.Group != "" {
				res += "." + d.Group
			}
			return fmt.Errorf("forbidden: dbctl needs access to %s (see config/rbac): %w", res, err)
		}
	}
	return err
}

// IsRBACForbidden reports a Forbidden error of authorization (the user may not do
// this), as opposed to one of admission (the object may not be changed this way).
func IsRBACForbidden(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsForbidden(err) || !errors.As(err, &status) {
		return false
	}
	verb, _ := forbidden(status.Status().Message)
	return verb != ""
}

var forbiddenRE = regexp.MustCompile(`cannot (\w+) resource "([^"]+)" in API group "([^"]*)"`)

// forbidden extracts the verb and the resource (with its subresource and group) from
// the API server's Forbidden message: `... cannot update resource "databases/status"
// in API group "dbctl.io" ...` is ("update", "databases.dbctl.io/status").
func forbidden(msg string) (verb, resource string) {
	m := forbiddenRE.FindStringSubmatch(msg)
	if m == nil {
		return "", ""
	}
	resource, sub, _ := strings.Cut(m[2], "/")
	if m[3] != "" {
		resource += "." + m[3]
	}
	if sub != "" {
		resource += "/" + sub
	}
	return m[1], resource
}

// isDatabaseResourceNotFound recognises the 404 the API server returns for a
// request to /apis/dbctl.io/... when the CRD does not exist: NotFound with no
// object name in the details, or with the resource "databases" as the kind and
// the generic "the server could not find the requested resource" message.
func isDatabaseResourceNotFound(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	s := status.Status()
	return strings.Contains(s.Message, "the server could not find the requested resource") &&
		s.Details != nil && s.Details.Group == "dbctl.io"
}
