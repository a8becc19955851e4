package sim

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// Pod faults: a pod that stays ready, and in the endpoint set, while it
// fails every request fast or hangs on every request (FaultKind), and
// the proxies' timeout that bounds how long a hung request holds.
//
// Which pods fault, and when, is drawn from the run's fault stream
// (run.frng), part of the cluster's randomness and apart from its other
// draws, so that adding a fault to a scenario moves no readiness delay or
// crash; and pods are always visited in creation order, never in slot
// order (slots are reused as pods go, which is when the algorithm lets
// them drain). Every algorithm of a replication thus sees the same pods
// fault at the same times (common random numbers).

var (
	errUpstream = errors.New("sim: the pod answered with an error (a fault)")
	errTimeout  = errors.New("sim: the proxy timed out waiting for the pod")
)

// faultKind is what a pod does with a new request.
type faultKind uint8

const (
	faultNone faultKind = iota // serves it
	faultFail                  // answers with an error after failLatency
	faultHang                  // holds it and never answers
)

func (k FaultKind) kind() faultKind {
	if k == FaultHang {
		return faultHang
	}
	return faultFail
}

// faultState is the random faults in force (a FaultsAction), if any.
type faultState struct {
	on       *FaultsAction // nil: none
	duration sampler       // each fault's length, drawn from frng
	gen      int32         // bumped by each FaultsAction, to drop the pending faults of the one before
}

// readyBySerial returns the ready pods that keep satisfies, in creation
// order.
func (r *run) readyBySerial(keep func(p *pod) bool) []int32 {
	var out []int32
	for i := range r.pods {
		if p := &r.pods[i]; p.state == podReady && keep(p) {
			out = append(out, int32(i))
		}
	}
	slices.SortFunc(out, func(a, b int32) int { return r.pods[a].serial - r.pods[b].serial })
	return out
}

// faultPods carries out a FaultAction: it draws its pods among the ready
// ones in the endpoint set that are not faulty already.
func (r *run) faultPods(f *FaultAction) {
	cands := r.readyBySerial(func(p *pod) bool { return p.inSet && p.fault == faultNone })
	n, _ := f.Pods.resolve(r.setSize, true, "1")
	n = min(n, len(cands))
	d := f.Duration.Std()
	if d == 0 {
		d = -1 // until the end
	}
	for k := range n {
		j := k + r.frng.IntN(len(cands)-k)
		cands[k], cands[j] = cands[j], cands[k]
		r.beginFault(cands[k], f.Kind.kind(), f.Latency.Std(), d)
	}
}

// startFaults puts a FaultsAction in force: every ready pod draws its
// first fault.
func (r *run) startFaults(f FaultsAction) {
	if f.Until == 0 {
		f.Until = r.sc.Duration
	}
	r.faults.on = &f
	r.faults.duration = newSampler(f.Duration, r.frng)
	r.faults.gen++
	for _, pi := range r.readyBySerial(func(*pod) bool { return true }) {
		r.scheduleFault(pi, 0)
	}
}

// scheduleFault draws a ready pod's next random fault, after the time it
// runs well, from after on, while random faults are in force.
func (r *run) scheduleFault(pi int32, after time.Duration) {
	f := r.faults.on
	if f == nil || r.now >= f.Until.Std() {
		return
	}
	at := float64(r.now) + float64(after) + r.frng.ExpFloat64()*float64(f.MTBF)
	if at < float64(f.Until) {
		r.q.push(time.Duration(at), evFault, pi, r.faults.gen, r.pods[pi].epoch)
	}
}

// randomFault begins a pod's random fault, unless the pod changed state
// since it was drawn (it crashed, or was deleted: a restarted pod draws
// anew when it is ready) or the faults were replaced. A pod faulty
// already skips its turn. The next fault is drawn at once, after this
// one's end.
func (r *run) randomFault(pi, gen, epoch int32) {
	p := &r.pods[pi]
	f := r.faults.on
	if f == nil || gen != r.faults.gen || epoch != p.epoch || p.state != podReady {
		return
	}
	if p.fault != faultNone {
		r.scheduleFault(pi, 0)
		return
	}
	d := r.faults.duration.draw()
	r.beginFault(pi, f.Kind.kind(), f.Latency.Std(), d)
	r.scheduleFault(pi, d)
}

// beginFault makes a pod faulty for d, or for good when d is negative.
func (r *run) beginFault(pi int32, kind faultKind, latency, d time.Duration) {
	p := &r.pods[pi]
	p.fault, p.failLatency = kind, latency
	p.faultTok++
	p.faultAt = r.now
	r.m.faults++
	if d >= 0 && d < math.MaxInt64-r.now {
		r.q.push(r.now+d, evFaultEnd, pi, p.faultTok, 0)
	}
}

// endFault ends a pod's fault, if tok is still its fault's token. What it
// holds hung stays so (FaultHang); failing requests fail on schedule.
func (r *run) endFault(pi, tok int32) {
	p := &r.pods[pi]
	if p.faultTok != tok || p.fault == faultNone {
		return
	}
	p.fault = faultNone
	p.faultTok++
}

// faultRequest hands a new request to a faulty pod, outside its workers
// and queue: a failing pod answers it with an error after its fail
// latency, a hung one holds it.
func (r *run) faultRequest(pi, ri int32) {
	p := &r.pods[pi]
	q := &r.reqs[ri]
	r.m.toFaulty++
	p.held++
	q.fault = p.fault
	if q.fault == faultFail {
		r.q.push(r.now+p.failLatency, evComplete, ri, 0, 0)
	}
}

// failFast ends a request a failing pod answers with its error (the
// request's slot is freed). The error is not retried, as a 5xx answer is
// not by default in nginx or Envoy.
func (r *run) failFast(q request) {
	p := &r.pods[q.pod]
	p.touch(r.now)
	p.held--
	if !q.timedOut {
		q.res.Done(balancer.DoneInfo{Err: errUpstream, Failure: balancer.UpstreamFailure, Latency: r.now - q.arrival + r.crossDelay(q.cross), Now: r.unixNano()})
		r.m.fail(failUpstream)
		r.sessionGoesOn(q.session)
	}
	r.goneIfIdle(q.pod)
}

// goneIfIdle lets a draining pod that holds nothing more exit.
func (r *run) goneIfIdle(pi int32) {
	if p := &r.pods[pi]; p.state == podDraining && p.load() == 0 {
		r.setState(pi, podGone)
	}
}

// armTimeout schedules the proxy's timeout for a request, from its
// arrival: across retries, a retry keeps the first try's deadline.
func (r *run) armTimeout(ri int32) {
	to := r.sc.Proxies.Timeout.Std()
	q := &r.reqs[ri]
	if to <= 0 || to >= math.MaxInt64-q.arrival {
		return
	}
	r.q.push(max(q.arrival+to, r.now), evTimeout, ri, q.gen, 0)
}

// timeout fails a request the proxy has waited for too long, unless it
// has ended (or its slot holds another request by now). The proxy ends
// it (Done, once) and counts it; the pod goes on serving it if it has it
// queued or in service, and lets it go if it holds it hung.
func (r *run) timeout(ri, gen int32) {
	q := &r.reqs[ri]
	if !q.live || q.gen != gen || q.cancelled || q.timedOut {
		return
	}
	q.timedOut = true
	lat := r.now - q.arrival
	q.res.Done(balancer.DoneInfo{Err: errTimeout, Failure: balancer.GatewayFailure, Latency: lat, Now: r.unixNano()})
	r.m.timeout(lat)
	session, pi := q.session, q.pod
	if q.fault == faultHang {
		p := &r.pods[pi]
		p.touch(r.now)
		p.held--
		r.freeRequest(ri)
		r.goneIfIdle(pi)
	}
	r.sessionGoesOn(session)
}
