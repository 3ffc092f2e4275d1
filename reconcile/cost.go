package reconcile

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/dbctl-io/dbctl/api/v1alpha1"
	"github.com/dbctl-io/dbctl/phases"
)

// CostClass is what a change does to the running database.
type CostClass string

// The cost classes, from the least to the most significant.
const (
	// CostRollsPods: the replicas' pods are replaced one at a time (their
	// template changed).
	CostRollsPods CostClass = "rolls-pods"
	// CostRestartsPrimary: the primary's pod is replaced (its template changed):
	// the read-write endpoint is down while it restarts.
	CostRestartsPrimary CostClass = "restarts-primary"
	// CostRemovesReplicas: replicas are stopped (a scale-down); their PVCs stay.
	CostRemovesReplicas CostClass = "removes-replicas"
	// CostRecreatesStatefulSet: the StatefulSet is deleted leaving its pods
	// running and created again (a volume growth): no pod restarts.
	CostRecreatesStatefulSet CostClass = "recreates-statefulset"
	// CostRefused: reconcile refuses the change before any write (it cannot be
	// made in place); the plan says what to do instead.
	CostRefused CostClass = "refused"
)

// Effect is one effect of a change on the running pods.
type Effect struct {
	Class CostClass `json:"class"`
	// Pods counts the pods rolled or removed.
	Pods int `json:"pods,omitempty"`
}

// Text is the effect in words: "rolls 2 pods, one at a time".
func (e Effect) Text() string {
	switch e.Class {
	case CostRollsPods:
		return fmt.Sprintf("rolls %s, one at a time", plural(e.Pods, "pod"))
	case CostRestartsPrimary:
		return "restarts the primary"
	case CostRemovesReplicas:
		return fmt.Sprintf("removes %s (their PVCs stay)", plural(e.Pods, "replica"))
	case CostRecreatesStatefulSet:
		return "recreates the StatefulSet around its running pods, no restart"
	case CostRefused:
		return "refused"
	}
	return string(e.Class)
}

// CostText is a change's effects in words, most significant first; "" when it has
// no effect on the pods.
func CostText(effects []Effect) string {
	parts := make([]string, len(effects))
	for i, e := range effects {
		parts[i] = e.Text()
	}
	return strings.Join(parts, "; ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// costOf classifies a planned change by its effect on the running pods: for a
// StatefulSet update, a new pod template rolls the replicas' pods or restarts the
// primary, fewer replicas removes some, a volume growth recreates it (recreate).
// Every other change (Secrets, Services, the ConfigMap, PVCs, creates, deletes)
// has none of its own: a config change rolls the pods through the StatefulSet's
// config-hash annotation, and shows there.
func costOf(c Change, db *v1alpha1.Database, recreate bool) []Effect {
	if c.Kind != phases.KindStatefulSet || c.Action != ActionUpdate {
		return nil
	}
	var effects []Effect
	if recreate {
		effects = append(effects, Effect{Class: CostRecreatesStatefulSet})
	}
	before, after := replicasOf(c.Before), replicasOf(c.After)
	if after < before {
		effects = append(effects, Effect{Class: CostRemovesReplicas, Pods: before - after})
	}
	if templateChanged(c.Fields) {
		switch {
		case c.Name == db.StatefulSetName():
			effects = append(effects, Effect{Class: CostRestartsPrimary, Pods: 1})
		case min(before, after) > 0:
			effects = append(effects, Effect{Class: CostRollsPods, Pods: min(before, after)})
		}
	}
	return effects
}

func replicasOf(u *unstructured.Unstructured) int {
	if u == nil {
		return 0
	}
	n, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		return 1
	}
	return int(n)
}

func templateChanged(fields []FieldChange) bool {
	for _, f := range fields {
		if strings.HasPrefix(f.Path, "spec.template.") {
			return true
		}
	}
	return false
}

// Costs add up a plan's effects for its closing line.
type Costs struct {
	RollsPods             int `json:"rollsPods"`
	RestartsPrimary       int `json:"restartsPrimary"`
	RemovesReplicas       int `json:"removesReplicas"`
	RecreatesStatefulSets int `json:"recreatesStatefulSets"`
	Refused               int `json:"refused"`
}

// Add counts the effects of one change.
func (c *Costs) Add(effects []Effect) {
	for _, e := range effects {
		switch e.Class {
		case CostRollsPods:
			c.RollsPods += e.Pods
		case CostRestartsPrimary:
			c.RestartsPrimary++
		case CostRemovesReplicas:
			c.RemovesReplicas += e.Pods
		case CostRecreatesStatefulSet:
			c.RecreatesStatefulSets++
		case CostRefused:
			c.Refused++
		}
	}
}

// Plus adds two Costs.
func (c Costs) Plus(d Costs) Costs {
	return Costs{c.RollsPods + d.RollsPods, c.RestartsPrimary + d.RestartsPrimary, c.RemovesReplicas + d.RemovesReplicas,
		c.RecreatesStatefulSets + d.RecreatesStatefulSets, c.Refused + d.Refused}
}

// Text is the costs in words ("rolls 3 pods, restarts the primary"); "" for none.
func (c Costs) Text() string {
	var parts []string
	if c.RollsPods > 0 {
		parts = append(parts, "rolls "+plural(c.RollsPods, "pod"))
	}
	switch {
	case c.RestartsPrimary == 1:
		parts = append(parts, "restarts the primary")
	case c.RestartsPrimary > 1:
		parts = append(parts, fmt.Sprintf("restarts %d primaries", c.RestartsPrimary))
	}
	if c.RemovesReplicas > 0 {
		parts = append(parts, "removes "+plural(c.RemovesReplicas, "replica"))
	}
	if c.RecreatesStatefulSets > 0 {
		parts = append(parts, "recreates "+plural(c.RecreatesStatefulSets, "StatefulSet"))
	}
	if c.Refused > 0 {
		parts = append(parts, "refused")
	}
	return strings.Join(parts, ", ")
}
