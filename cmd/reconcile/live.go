package reconcile

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dbctl-io/dbctl/reconcile"
	"github.com/dbctl-io/dbctl/reconcile/render"
)

// live keeps one updating line per Database at the bottom of a terminal — its
// phase, replicas ready and elapsed time — while the permanent progress lines
// (phase changes, changes) scroll above it. It is used only when stderr is a
// terminal; elsewhere progress is plain lines.
type live struct {
	mu     sync.Mutex
	w      io.Writer
	style  render.Style
	order  []string
	states map[string]*liveState
	drawn  int
	stop   chan struct{}
	done   sync.WaitGroup
}

type liveState struct {
	phase    string
	replicas string
	start    time.Time
	end      time.Time
}

func newLive(w io.Writer, style render.Style) *live {
	l := &live{w: w, style: style, states: map[string]*liveState{}, stop: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.mu.Lock()
				l.redraw()
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// print writes permanent lines above the live area and updates the Database's line.
func (l *live) print(ev reconcile.Event, lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	for _, line := range lines {
		fmt.Fprintln(l.w, line)
	}
	key := ev.Namespace + "/" + ev.Name
	st, ok := l.states[key]
	if !ok {
		st = &liveState{phase: "Pending", start: ev.Time.Add(-ev.Elapsed)}
		l.states[key] = st
		l.order = append(l.order, key)
	}
	switch ev.Type {
	case reconcile.EventPhase:
		st.phase = string(ev.To)
		if ev.To == "Ready" || ev.To == "Failed" {
			st.end = ev.Time
		}
	case reconcile.EventWaiting:
		if ev.Rollout != nil {
			st.replicas = fmt.Sprintf("%d/%d ready", ev.Rollout.Ready, ev.Rollout.Desired)
		}
	}
	l.draw()
}

// close removes the live area for good.
func (l *live) close() {
	close(l.stop)
	l.done.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
}

func (l *live) clear() {
	for ; l.drawn > 0; l.drawn-- {
		fmt.Fprint(l.w, "\x1b[1A\x1b[2K")
	}
}

func (l *live) redraw() {
	l.clear()
	l.draw()
}

func (l *live) draw() {
	now := time.Now()
	for _, key := range l.order {
		st := l.states[key]
		end := st.end
		if end.IsZero() {
			end = now
		}
		mark := l.style.Bold("…")
		switch st.phase {
		case "Ready":
			mark = l.style.Bold("✓")
		case "Failed":
			mark = l.style.Alert("✗")
		}
		fmt.Fprintf(l.w, "%s %-40s %-13s %-12s %s\n", mark, key, st.phase, st.replicas, end.Sub(st.start).Round(time.Second))
	}
	l.drawn = len(l.order)
}
