package resilience

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// StateStore keeps the breaker state shared by concurrent dbctl processes: the
// versioned JSON document of StateFile, in a file (Store) or in a ConfigMap
// (ClusterStore). Every implementation gives the same guarantees:
//
//   - Load returns a complete version of the state; a missing document is every
//     breaker closed; a corrupt one is reported to the store's warn function
//     (naming where it is) and read as every breaker closed.
//   - Update and UpdateContext are read-modify-write operations that never lose an
//     update made concurrently by another process; fn may run more than once (an
//     optimistic store runs it again on a conflict), so it must only change sf and
//     set variables it owns, and it must be quick: nothing is held while it runs,
//     and it never calls a dependency. A corrupt document is rewritten by the next
//     update.
//   - Reset and ResetAll close breakers by removing them from the state.
//
// Errors name the store's Location. Implementations are safe for concurrent use.
type StateStore interface {
	// Load returns a snapshot of the state.
	Load() (StateFile, error)
	// Update runs fn on the current state and writes the result; when fn returns
	// an error nothing is written and Update returns it.
	Update(fn func(*StateFile) error) error
	// UpdateContext is Update, giving up when ctx ends.
	UpdateContext(ctx context.Context, fn func(*StateFile) error) error
	// Reset removes the named breakers and returns their names; a name the state
	// does not hold resets nothing and is an error wrapping ErrUnknownBreaker.
	Reset(names ...string) ([]string, error)
	// ResetAll removes every breaker and returns their names, sorted.
	ResetAll() ([]string, error)
	// Location names where the state is kept, for messages: a file's path, or
	// "ConfigMap NAMESPACE/NAME".
	Location() string
}

// ErrUnknownBreaker is wrapped by the error of Reset for a name the state does not
// hold.
var ErrUnknownBreaker = errors.New("unknown circuit breaker")

// resetNames returns the update of a store's Reset: it removes names from the state,
// appending them to *reset, or fails naming the unknown ones and where it looked.
func resetNames(names []string, location string, reset *[]string) func(*StateFile) error {
	return func(sf *StateFile) error {
		*reset = (*reset)[:0] // fn may run again after a conflict
		var unknown []string
		for _, name := range names {
			if _, ok := sf.Breakers[name]; !ok && !slices.Contains(unknown, name) {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			known := "none"
			if n := sf.Names(); len(n) > 0 {
				known = strings.Join(n, ", ")
			}
			return fmt.Errorf("%w %s in %s (known: %s)", ErrUnknownBreaker, quoteAll(unknown), location, known)
		}
		for _, name := range names {
			if _, ok := sf.Breakers[name]; ok {
				delete(sf.Breakers, name)
				*reset = append(*reset, name)
			}
		}
		return nil
	}
}

// resetAll returns the update of a store's ResetAll.
func resetAll(reset *[]string) func(*StateFile) error {
	return func(sf *StateFile) error {
		*reset = sf.Names()
		sf.Breakers = map[string]*Record{}
		return nil
	}
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// warner gives each distinct warning about a corrupt state once: repeating the
// same one on every read would flood a run's output.
type warner struct {
	warn func(string)

	mu   sync.Mutex
	last string
}

// once passes msg to warn unless it is the last one given; an empty msg (the state
// is sound again) makes the next corruption worth a new warning.
func (w *warner) once(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if msg == w.last {
		return
	}
	w.last = msg
	if msg != "" && w.warn != nil {
		w.warn(msg)
	}
}
