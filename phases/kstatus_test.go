package phases

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
)

// Flux's health checks (and kpt, cli-utils) compute readiness with kstatus: on the
// statuses the state machine writes, kstatus says InProgress while dbctl drives
// the Database, Current when it is Ready and Failed when it is Failed.
func TestKstatusReadsTheStatuses(t *testing.T) {
	for name, tc := range map[string]struct {
		db    *v1alpha1.Database
		world world
		want  status.Status
	}{
		"a new Database":          {testDB(""), world{noData: true}, status.InProgressStatus},
		"waiting for the rollout": {testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world{notRolled: true}, status.InProgressStatus},
		"a dependency down":       {testDB(v1alpha1.PhasePending, withDeps), world{noData: true, depsDown: true}, status.InProgressStatus},
		"verified":                {testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Minute)), world{}, status.CurrentStatus},
		"the verify timeout":      {testDB(v1alpha1.PhaseVerifying, verifyingSince(time.Hour)), world{notRolled: true}, status.FailedStatus},
		"Failed in its backoff":   {testDB(v1alpha1.PhaseFailed, failedAgo(time.Second, 1)), world{}, status.FailedStatus},
		"Failed retried":          {testDB(v1alpha1.PhaseFailed, failedAgo(time.Hour, 1)), world{}, status.InProgressStatus},
		"Ready, a child edited":   {testDB(v1alpha1.PhaseReady), world{drifted: []string{KindConfigMap}}, status.InProgressStatus},
	} {
		t.Run(name, func(t *testing.T) {
			db := tc.db
			// Two steps: a step's status, and the next decision on it.
			for range 2 {
				d := Decide(db, observe(db, tc.world))
				db = db.DeepCopy()
				db.Status = d.Status
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(db)
			if err != nil {
				t.Fatal(err)
			}
			res, err := status.Compute(&unstructured.Unstructured{Object: m})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Errorf("phase %s: kstatus says %s (%s), want %s; conditions %+v", db.Phase(), res.Status, res.Message, tc.want, db.Status.Conditions)
			}
		})
	}
}
