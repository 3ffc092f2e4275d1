package phases

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// StorageChange explains why the StatefulSet of db cannot take its storage spec:
// the data volumes keep the class they were created with, and volumes only grow.
// A larger spec.storage.size is no refusal: GrowthOf plans it. It returns "" when w
// (the live StatefulSet's workload, nil when there is none) has the storage of the
// spec or less of it, or no data volume claim to compare. The message says what to
// do.
func StorageChange(db *v1alpha1.Database, w *Workload) string {
	if w == nil || w.Claim == nil {
		return ""
	}
	c := w.Claim
	sts := fmt.Sprintf("StatefulSet %s/%s", db.Namespace, db.StatefulSetName())
	wantClass := ""
	if db.Spec.Storage.StorageClassName != nil {
		wantClass = *db.Spec.Storage.StorageClassName
	}
	if (c.HasStorageClass || wantClass != "") && c.StorageClass != wantClass {
		back := fmt.Sprintf("set it back to %q", c.StorageClass)
		if c.StorageClass == "" {
			back = "remove it"
		}
		return fmt.Sprintf("spec.storage.storageClassName cannot change from %s to %s on the existing %s: "+
			"Kubernetes does not allow changing a StatefulSet's volumeClaimTemplates, and the data volumes keep "+
			"the class they were created with; %s",
			className(c.StorageClass), className(wantClass), sts, back)
	}
	liveSize, err := resource.ParseQuantity(c.Size)
	want := db.Spec.Storage.Size
	if err != nil || want.Cmp(liveSize) >= 0 {
		return "" // the same size, or a growth (GrowthOf)
	}
	return fmt.Sprintf("spec.storage.size cannot shrink from %s to %s on the existing %s: volumes only grow; set it back to %s",
		liveSize.String(), want.String(), sts, liveSize.String())
}

func className(c string) string {
	if c == "" {
		return "none (the cluster's default class)"
	}
	return fmt.Sprintf("%q", c)
}
