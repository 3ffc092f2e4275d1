package kube

import (
	"errors"
	"fmt"
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
		d := status.Status().Details
		if d != nil {
			verb := forbiddenVerb(status.Status().Message)
			res := d.Kind
			if d.Group != "" {
				res += "." + d.Group
			}
			if verb != "" {
				return fmt.Errorf("forbidden: dbctl needs %s on %s (see config/rbac): %w", verb, res, err)
			}
			return fmt.Errorf("forbidden: dbctl needs access to %s (see config/rbac): %w", res, err)
		}
	}
	return err
}

// forbiddenVerb extracts the verb from the API server's Forbidden message:
// `... cannot patch resource "secrets" in API group "" ...`.
func forbiddenVerb(msg string) string {
	const marker = "cannot "
	i := strings.Index(msg, marker)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(marker):]
	if j := strings.IndexByte(rest, ' '); j > 0 {
		return rest[:j]
	}
	return ""
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
