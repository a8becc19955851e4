package sim

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/lbkit/lbkit/sim/trace"
)

type actionKind uint8

const (
	actRollout actionKind = iota
	actScale
	actCrashes
	actDrain
	actFault
	actFaults
)

// action is one planned churn step.
type action struct {
	at       time.Duration
	kind     actionKind
	replicas int    // actScale: the replica count from here on
	churn    *Churn // actRollout, actCrashes, actDrain, actFault, actFaults
}

// planChurn turns the scenario's churn into time-ordered actions; a
// stepped scale becomes one action a step. A trace is not planned: it is
// streamed (nextTrace).
func (r *run) planChurn() ([]action, error) {
	var acts []action
	replicas := r.desired
	for i := range r.sc.Churn {
		c := &r.sc.Churn[i]
		at := c.At.Std()
		switch {
		case c.RollingUpdate != nil:
			acts = append(acts, action{at: at, kind: actRollout, churn: c})
		case c.Scale != nil:
			step, every := c.Scale.Step, c.Scale.Interval.Std()
			target := c.Scale.Replicas
			if step <= 0 {
				step = max(abs(target-replicas), 1)
			}
			for replicas != target {
				if replicas < target {
					replicas = min(replicas+step, target)
				} else {
					replicas = max(replicas-step, target)
				}
				acts = append(acts, action{at: at, kind: actScale, replicas: replicas})
				at += every
			}
		case c.Crashes != nil:
			acts = append(acts, action{at: at, kind: actCrashes, churn: c})
		case c.DrainZone != nil:
			acts = append(acts, action{at: at, kind: actDrain, churn: c})
		case c.Fault != nil:
			acts = append(acts, action{at: at, kind: actFault, churn: c})
		case c.Faults != nil:
			acts = append(acts, action{at: at, kind: actFaults, churn: c})
		}
	}
	slices.SortStableFunc(acts, func(a, b action) int { return cmp.Compare(a.at, b.at) })
	return acts, nil
}

func abs(x int) int { return max(x, -x) }

// act carries out action i.
func (r *run) act(i int, _ int32) {
	a := &r.actions[i]
	switch a.kind {
	case actRollout:
		r.gen++
		svc := r.services[len(r.services)-1]
		if st := a.churn.RollingUpdate.ServiceTime; st.Mean > 0 {
			svc = newSampler(st, nil)
		}
		r.services = append(r.services, svc)
		r.reconcile()
	case actScale:
		r.desired = a.replicas
		r.reconcile()
	case actCrashes:
		c := *a.churn.Crashes
		if c.Until == 0 {
			c.Until = r.sc.Duration
		}
		r.crash = &c
		for pi := range r.pods {
			if r.pods[pi].state == podReady {
				r.scheduleCrash(int32(pi))
			}
		}
	case actDrain:
		zone := a.churn.DrainZone.Zone
		r.zones = slices.DeleteFunc(r.zones, func(z string) bool { return z == zone })
		for pi := range r.pods {
			if r.pods[pi].zone == zone {
				r.deletePod(int32(pi))
			}
		}
		r.reconcile()
	case actFault:
		r.faultPods(a.churn.Fault)
	case actFaults:
		r.startFaults(*a.churn.Faults)
	}
}

// scheduleCrash draws a pod's next crash while crashes are on.
func (r *run) scheduleCrash(pi int32) {
	c := r.crash
	if c == nil || r.now >= c.Until.Std() {
		return
	}
	d := time.Duration(r.rng.ExpFloat64() * float64(c.MTBF))
	if r.now+d < c.Until.Std() {
		r.schedule(pi, d, stepCrash)
	}
}

// alive reports whether a pod counts as one of the Deployment's replicas:
// not deleted.
func alive(p *pod) bool {
	return p.state == podStarting || p.state == podReady || p.state == podCrashed
}

// reconcile is the Deployment and ReplicaSet controllers: it brings the
// pods towards the desired count of the newest generation, within
// maxSurge and maxUnavailable while older generations remain.
func (r *run) reconcile() {
	if r.trace != nil {
		return // a trace says what happens; there is no controller
	}
	var cur, old []int32
	for i := range r.pods {
		p := &r.pods[i]
		if !alive(p) {
			continue
		}
		if p.gen == r.gen {
			cur = append(cur, int32(i))
		} else {
			old = append(old, int32(i))
		}
	}
	if len(old) == 0 {
		for n := len(cur); n < r.desired; n++ {
			r.createPod()
		}
		if extra := len(cur) - r.desired; extra > 0 {
			// Scale down as the ReplicaSet controller ranks pods: not ready
			// first, then the most recently ready.
			slices.SortStableFunc(cur, func(a, b int32) int {
				pa, pb := &r.pods[a], &r.pods[b]
				if ra, rb := pa.state == podReady, pb.state == podReady; ra != rb {
					if ra {
						return 1
					}
					return -1
				}
				return cmp.Compare(pb.readyAt, pa.readyAt)
			})
			for _, pi := range cur[:extra] {
				r.deletePod(pi)
			}
		}
		return
	}
	surge, unavailable := r.strategy()
	for n := min(r.desired-len(cur), r.desired+surge-len(cur)-len(old)); n > 0; n-- {
		r.createPod()
	}
	ready := 0
	var oldReady []int32
	for _, pi := range cur {
		if r.pods[pi].state == podReady {
			ready++
		}
	}
	for _, pi := range old {
		if r.pods[pi].state == podReady {
			ready++
			oldReady = append(oldReady, pi)
		} else {
			r.deletePod(pi) // unhealthy old pods go first, at no cost to availability
		}
	}
	canDelete := ready - (r.desired - unavailable)
	for _, pi := range oldReady {
		if canDelete <= 0 {
			break
		}
		r.deletePod(pi)
		canDelete--
	}
}

// strategy resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against the desired replicas; normalize has checked they parse.
func (r *run) strategy() (surge, unavailable int) {
	ru := r.sc.Deployment.Strategy.RollingUpdate
	surge, _ = ru.MaxSurge.resolve(r.desired, true, "25%")
	unavailable, _ = ru.MaxUnavailable.resolve(r.desired, false, "25%")
	if surge == 0 && unavailable == 0 {
		unavailable = 1 // Kubernetes rejects this; normalize does too, but never deadlock
	}
	return surge, unavailable
}

// startTrace applies the trace's events of its first instant, before the
// clock starts, and schedules the next.
func (r *run) startTrace() {
	if r.trace == nil {
		return
	}
	if err := r.readTrace(); err != nil || !r.traceOK {
		return
	}
	first := r.traceNext.At
	for r.traceOK && r.traceNext.At == first && r.err == nil {
		r.replay(r.traceNext)
		r.readTrace()
	}
	r.scheduleTrace()
}

// traceStep applies the trace's events of the current instant and
// schedules the next.
func (r *run) traceStep() {
	at := r.traceNext.At
	for r.traceOK && r.traceNext.At == at && r.err == nil {
		r.replay(r.traceNext)
		r.readTrace()
	}
	r.scheduleTrace()
}

// readTrace reads the next trace event into traceNext; traceOK is false
// after the last. A read error stops the run.
func (r *run) readTrace() error {
	ev, err := r.trace.Next()
	if err == io.EOF {
		r.traceOK = false
		return nil
	}
	if err != nil {
		r.traceOK = false
		r.fail(fmt.Errorf("sim: replaying the trace: %w", err))
		return err
	}
	r.traceNext, r.traceOK = ev, true
	return nil
}

// scheduleTrace schedules the next trace instant, at its time divided by
// Scenario.TraceSpeed.
func (r *run) scheduleTrace() {
	if r.traceOK {
		r.q.push(time.Duration(float64(r.traceNext.At)/r.sc.TraceSpeed), evTrace, 0, 0, 0)
	}
}

// replay applies one trace event. An endpoint the trace adds is a pod made
// from the template; a remove deletes it as Kubernetes deletes a pod, and
// an add of the same ID after that is a new pod (an address reused), even
// while the old one is still terminating. Unready takes the endpoint out of
// the set but leaves the pod serving what proxies that have not heard yet
// still send it; ready puts it back.
func (r *run) replay(ev trace.Event) {
	pi, ok := r.byID[ev.Endpoint]
	if ok && r.pods[pi].state != podStarting && r.pods[pi].state != podReady {
		ok = false
	}
	if !ok && (ev.Kind == trace.Add || ev.Kind == trace.Ready) {
		w := ev.Weight
		if w == 0 {
			w = r.sc.Deployment.Template.Weight
		}
		pi, ok = r.startPod(ev.Endpoint, ev.Zone, w, false), true
	} else if ok {
		// Any event may carry a new weight or zone; zero and empty mean
		// unchanged.
		p := &r.pods[pi]
		if ev.Weight != 0 && ev.Weight != p.weight {
			p.weight = ev.Weight
			r.dirty = r.dirty || p.inSet
		}
		if ev.Zone != "" && ev.Zone != p.zone {
			p.zone = ev.Zone
			r.dirty = r.dirty || p.inSet
		}
	}
	if !ok {
		return // unready or remove of an endpoint the run does not have
	}
	switch ev.Kind {
	case trace.Ready:
		if r.pods[pi].state != podReady {
			r.setState(pi, podReady)
			r.pods[pi].readyAt = r.now
		}
		r.setInSet(pi, true)
	case trace.Unready:
		r.setInSet(pi, false)
	case trace.Remove:
		r.deletePod(pi)
	}
}
