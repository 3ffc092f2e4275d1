package phases

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// StorageChange explains why the StatefulSet of db cannot take its storage spec:
// Kubernetes does not let a StatefulSet's volumeClaimTemplates change, so a new
// spec.storage.size or storageClassName is rejected for an existing StatefulSet.
// It returns "" when live (the live StatefulSet, nil when there is none) has the
// storage of the spec, or no data volume template to compare. The message says
// what to do instead of the API server's dump of the template.
func StorageChange(db *v1alpha1.Database, live *unstructured.Unstructured) string {
	if live == nil {
		return ""
	}
	templates, _, _ := unstructured.NestedSlice(live.Object, "spec", "volumeClaimTemplates")
	for _, t := range templates {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		if name, _, _ := unstructured.NestedString(tm, "metadata", "name"); name != dataVolume {
			continue
		}
		sts := fmt.Sprintf("StatefulSet %s/%s", db.Namespace, db.StatefulSetName())
		liveClass, hasClass, _ := unstructured.NestedString(tm, "spec", "storageClassName")
		wantClass := ""
		if db.Spec.Storage.StorageClassName != nil {
			wantClass = *db.Spec.Storage.StorageClassName
		}
		if (hasClass || wantClass != "") && liveClass != wantClass {
			back := fmt.Sprintf("set it back to %q", liveClass)
			if liveClass == "" {
				back = "remove it"
			}
			return fmt.Sprintf("spec.storage.storageClassName cannot change from %s to %s on the existing %s: "+
				"Kubernetes does not allow changing a StatefulSet's volumeClaimTemplates, and the data volumes keep "+
				"the class they were created with; %s",
				className(liveClass), className(wantClass), sts, back)
		}
		size, _, _ := unstructured.NestedString(tm, "spec", "resources", "requests", "storage")
		liveSize, err := resource.ParseQuantity(size)
		want := db.Spec.Storage.Size
		if err != nil || liveSize.Cmp(want) == 0 {
			return ""
		}
		if want.Cmp(liveSize) < 0 {
			return fmt.Sprintf("spec.storage.size cannot shrink from %s to %s on the existing %s: volumes only grow; set it back to %s",
				liveSize.String(), want.String(), sts, liveSize.String())
		}
		return fmt.Sprintf("spec.storage.size cannot change from %s to %s on the existing %s: "+
			"Kubernetes does not allow changing a StatefulSet's volumeClaimTemplates, and dbctl does not resize volumes. "+
			"Set it back to %s, or grow the volumes by hand: expand each PVC data-%s-<ordinal> to %s (its StorageClass must allow volume expansion), "+
			"run 'kubectl delete statefulset %s -n %s --cascade=orphan' (the pods and volumes stay), then run dbctl again: "+
			"it recreates the StatefulSet with the new size",
			liveSize.String(), want.String(), sts, liveSize.String(), db.StatefulSetName(), want.String(), db.StatefulSetName(), db.Namespace)
	}
	return ""
}

func className(c string) string {
	if c == "" {
		return "none (the cluster's default class)"
	}
	return fmt.Sprintf("%q", c)
}
