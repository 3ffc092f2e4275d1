package phases

import (
	"fmt"
	"strings"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// TopologyChange refuses to turn the pods of an earlier dbctl into replicas: before
// one primary and streaming replicas, StatefulSet <name> ran every replica, and
// each of its pods 1… initialised a database of its own. Scaling that StatefulSet
// to its one primary would stop them, and their data, which the application may
// have written to, would be left behind unseen: a person decides. It returns ""
// when w (the live primary StatefulSet's workload, nil when there is none) runs
// one pod.
func TopologyChange(db *v1alpha1.Database, w *Workload) string {
	if w == nil || w.Replicas <= 1 {
		return ""
	}
	var pods, pvcs []string
	for i := int32(1); i < w.Replicas; i++ {
		pods = append(pods, fmt.Sprintf("%s-%d", db.StatefulSetName(), i))
		pvcs = append(pvcs, fmt.Sprintf("data-%s-%d", db.StatefulSetName(), i))
	}
	return fmt.Sprintf("StatefulSet %s/%s runs %d pods, as dbctl did before it ran one primary and streaming replicas: "+
		"pods %s hold databases of their own (PVCs %s), and dbctl does not wipe them to make replicas. "+
		"Copy what you need from them (a dump, or the PVCs), then run 'kubectl scale statefulset %s -n %s --replicas=1' "+
		"(their PVCs stay until you delete them) and run dbctl again: pod %s-0 stays the primary, and new replicas clone from it",
		db.Namespace, db.StatefulSetName(), w.Replicas, strings.Join(pods, ", "), strings.Join(pvcs, ", "),
		db.StatefulSetName(), db.Namespace, db.StatefulSetName())
}
