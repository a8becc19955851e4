package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
)

// The proxies' health features in a run: each proxy's Balancer has a
// health.Monitor driven on the virtual clock. The Monitor says when it
// next has something to do (an outlier evaluation, the end of an
// ejection, a slow-start step, an active check), and the run schedules an
// evHealth then; the run plays the probes itself, against the pods' state:
//
//   - a pod that is gone, crashed, draining or not yet started refuses the
//     probe at once;
//   - a pod failing fast answers it with its error after its fail latency;
//   - a hung pod never answers: the probe fails at the check's timeout;
//   - any other pod passes it after probeRTT, however loaded it is (a
//     /healthz handler that does not queue behind the pod's workers).
//
// Probes take no worker. Outlier detection is fed by the Dones the run
// already makes: an error answer is an UpstreamFailure, a refused,
// reset, full or timed-out request a GatewayFailure.

// probeRTT is how long a passing probe takes.
const probeRTT = time.Millisecond

// proxyHealth is one proxy's Monitor and its pending evHealth.
type proxyHealth struct {
	mon     *health.Monitor
	at      time.Duration // when the pending evHealth is due
	gen     int32         // the pending evHealth's generation; others are stale
	pending bool
	before  balancer.Picker // the Picker before an ejection a Done made, until settleHealth
}

// probeTask is a probe in flight: its outcome is decided when it is sent,
// and reported when it ends.
type probeTask struct {
	proxy int32
	e     *balancer.Endpoint
	err   error
}

// detectKey names one proxy's detection of one pod's bad spell.
type detectKey struct {
	serial, proxy int
	since         time.Duration
}

// newHealth attaches a Monitor to proxy i, unless the scenario has no
// health features or the algorithm runs without them.
func (r *run) newHealth(i int, b *balancer.Balancer, seed uint64) error {
	if r.sc.health == nil || r.alg.Baseline {
		return nil
	}
	cfg := *r.sc.health
	cfg.Seed = seed
	cfg.OnEvent = func(ev health.Event) { r.healthEvent(i, ev) }
	mon, err := health.New(b, cfg, r.unixNano())
	if err != nil {
		return fmt.Errorf("sim: proxy %d: %w", i, err)
	}
	r.proxies[i].h = &proxyHealth{mon: mon}
	return nil
}

// scheduleHealth makes sure an evHealth comes for proxy i when its Monitor
// next has something to do.
func (r *run) scheduleHealth(i int) {
	h := r.proxies[i].h
	if h == nil {
		return
	}
	next := min(h.mon.Next(), h.mon.NextCheck())
	if next == math.MaxInt64 {
		return
	}
	at := max(time.Duration(next-epoch), r.now)
	if h.pending && at >= h.at {
		return
	}
	h.gen++
	h.at, h.pending = at, true
	r.q.push(at, evHealth, int32(i), h.gen, 0)
}

// healthStep runs proxy i's Monitor at now and sends the probes that are
// due.
func (r *run) healthStep(i, gen int32) {
	h := r.proxies[i].h
	if h == nil || gen != h.gen {
		return
	}
	h.pending = false
	now := r.unixNano()
	old := r.proxies[i].bal.Picker()
	h.mon.Advance(now)
	r.healthRebuilt(int(i), old)
	r.due = h.mon.DueChecks(now, r.due[:0])
	for _, e := range r.due {
		r.probe(i, e)
	}
	r.scheduleHealth(int(i))
}

// healthRebuilt measures the key moves of proxy i's health transition,
// if its Picker changed since old.
func (r *run) healthRebuilt(i int, old balancer.Picker) {
	if now := r.proxies[i].bal.Picker(); now != old {
		r.m.rebuilt(old, now, r.liveSessionKeys)
	}
}

// settleHealth measures the key moves of the ejections that Dones
// caused during the last event, once their rebuilds are published.
func (r *run) settleHealth() {
	for _, i := range r.ejected {
		h := r.proxies[i].h
		r.healthRebuilt(int(i), h.before)
		h.before = nil
	}
	r.ejected = r.ejected[:0]
}

// probe sends proxy i's active check to e and schedules its outcome.
func (r *run) probe(i int32, e *balancer.Endpoint) {
	var (
		err   error
		delay = probeRTT
	)
	pi, ok := r.byID[e.ID]
	switch {
	case !ok || r.pods[pi].state != podReady && r.pods[pi].state != podTerminating:
		err, delay = errRefused, 0
	case r.pods[pi].fault == faultFail:
		err, delay = errUpstream, r.pods[pi].failLatency
	case r.pods[pi].fault == faultHang:
		err, delay = errTimeout, r.sc.health.Active.WithDefaults().Timeout
	}
	t := probeTask{proxy: i, e: e, err: err}
	var ti int32
	if n := len(r.freeProbes); n > 0 {
		ti, r.freeProbes = r.freeProbes[n-1], r.freeProbes[:n-1]
		r.probes[ti] = t
	} else {
		r.probes = append(r.probes, t)
		ti = int32(len(r.probes) - 1)
	}
	r.m.probes++
	r.q.push(r.now+delay, evProbe, ti, 0, 0)
}

// probeDone reports a probe's outcome to its proxy's Monitor.
func (r *run) probeDone(ti int32) {
	t := r.probes[ti]
	r.probes[ti] = probeTask{}
	r.freeProbes = append(r.freeProbes, ti)
	h := r.proxies[t.proxy].h
	old := r.proxies[t.proxy].bal.Picker()
	h.mon.CheckResult(t.e, t.err, r.unixNano())
	r.healthRebuilt(int(t.proxy), old)
	r.scheduleHealth(int(t.proxy))
}

// healthEvent counts proxy i's health transitions: ejections, and how
// long after a pod went bad (a fault, a crash) this proxy took it out.
func (r *run) healthEvent(i int, ev health.Event) {
	switch ev.Kind {
	case health.EventEjected:
		r.m.ejections++
		r.scheduleHealth(i) // the ejection's end
		// The Monitor publishes the Picker without the endpoint after
		// this; settleHealth measures the change.
		if h := r.proxies[i].h; h.before == nil {
			h.before = r.proxies[i].bal.Picker()
			r.ejected = append(r.ejected, int32(i))
		}
	case health.EventDown:
		r.m.downs++
	case health.EventPanic:
		r.m.panics++
		return
	default:
		return
	}
	pi, ok := r.byID[ev.Endpoint.ID]
	if !ok {
		return
	}
	p := &r.pods[pi]
	since := time.Duration(-1)
	switch {
	case p.fault != faultNone:
		since = p.faultAt
	case p.state == podCrashed:
		since = p.crashAt
	}
	if since < 0 {
		if ev.Kind == health.EventEjected {
			r.m.healthyEjections++ // a pod that was fine: overload, or bad luck
		}
		return
	}
	k := detectKey{serial: p.serial, proxy: i, since: since}
	if _, seen := r.detected[k]; seen {
		return
	}
	if r.detected == nil {
		r.detected = map[detectKey]struct{}{}
	}
	r.detected[k] = struct{}{}
	r.m.detections++
	r.m.detectSum += r.now - since
}
