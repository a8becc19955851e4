package sim

import (
	"fmt"
	"iter"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// createPod starts a pod of the current template generation, in the next
// zone, and schedules its readiness. It returns the pod's index.
func (r *run) createPod() int32 {
	r.nextIP++
	id := fmt.Sprintf("10.%d.%d.%d:8080", 1+r.nextIP>>16&0xff, r.nextIP>>8&0xff, r.nextIP&0xff)
	zone := ""
	if len(r.zones) > 0 {
		zone = r.zones[r.nextZone%len(r.zones)]
		r.nextZone++
	}
	return r.startPod(id, zone, r.sc.Deployment.Template.Weight, true)
}

// startPod adds a pod with the given identity; with probe true it turns
// ready after the template's readiness delay.
func (r *run) startPod(id, zone string, weight uint32, probe bool) int32 {
	t := &r.sc.Deployment.Template
	speed := 1.0
	if t.SlowFraction > 0 && r.rng.Float64() < t.SlowFraction {
		speed = t.SlowSpeed
	}
	p := pod{
		id: id, zone: zone, weight: weight, gen: r.gen, service: len(r.services) - 1,
		speed: speed, workers: t.Workers, createAt: r.now, loadAt: r.now, serial: r.podsCreated,
	}
	var i int32
	if n := len(r.freePods); n > 0 {
		// A gone pod's slot: its epoch goes on, so that the old pod's
		// pending steps stay stale.
		i, r.freePods = r.freePods[n-1], r.freePods[:n-1]
		p.epoch = r.pods[i].epoch + 1
		p.faultTok = r.pods[i].faultTok + 1
		p.queue = r.pods[i].queue[:0]
		r.pods[i] = p
	} else {
		r.pods = append(r.pods, p)
		i = int32(len(r.pods) - 1)
	}
	r.podsCreated++
	r.byID[id] = i
	if probe {
		r.schedule(i, r.readiness.draw(), stepReady)
	}
	return i
}

// schedule runs a pod step after d, unless the pod changes state first.
func (r *run) schedule(pi int32, d time.Duration, step int32) {
	r.q.push(r.now+d, evPod, pi, step, r.pods[pi].epoch)
}

func (r *run) setState(pi int32, s podState) {
	p := &r.pods[pi]
	p.state = s
	p.epoch++
	if s == podGone {
		r.retire(pi)
	}
}

// retire frees a gone pod's slot for the next pod, after the metrics have
// taken what they keep of it, so that the pods held do not grow with the
// pods that ever ran: a long trace replays in flat memory.
func (r *run) retire(pi int32) {
	p := &r.pods[pi]
	r.m.podDone(p)
	if r.byID[p.id] == pi {
		delete(r.byID, p.id)
	}
	r.freePods = append(r.freePods, pi)
}

// setInSet adds the pod to the published endpoint set or takes it out.
func (r *run) setInSet(pi int32, in bool) {
	p := &r.pods[pi]
	if p.inSet == in {
		return
	}
	r.m.capacityChange(r.now, r.capNow, r.setSize)
	p.inSet = in
	c := p.capacity(r.services[p.service].mean)
	if in {
		p.setSince = r.now
		r.capNow += c
		r.setSize++
	} else {
		p.readyFor += r.now - p.setSince
		r.capNow = max(r.capNow-c, 0)
		r.setSize--
	}
	r.dirty = true
}

func (r *run) podStep(pi, step, epoch int32) {
	p := &r.pods[pi]
	if p.epoch != epoch {
		return // the pod changed state since: a stale step
	}
	switch step {
	case stepReady:
		r.setState(pi, podReady)
		p.readyAt = r.now
		r.setInSet(pi, true)
		r.scheduleCrash(pi)
		r.scheduleFault(pi, 0)
		r.reconcile()
	case stepStopTake:
		r.setState(pi, podDraining)
		if p.load() == 0 {
			r.setState(pi, podGone)
		} else {
			r.schedule(pi, r.grace(p), stepKill)
		}
	case stepKill:
		r.failAll(pi)
		r.setState(pi, podGone)
		r.retryKilled()
	case stepCrash:
		r.failAll(pi)
		r.endFault(pi, p.faultTok) // the container restarts afresh
		r.setState(pi, podCrashed)
		r.retryKilled()
		r.m.crashes++
		p.crashAt = r.now
		r.schedule(pi, r.crash.DetectionDelay.Std(), stepDetect)
		r.schedule(pi, r.crash.RestartDelay.Std(), stepRestart)
	case stepDetect:
		r.setInSet(pi, false)
	case stepRestart:
		// A restarted container is not ready until its probe passes again.
		r.setInSet(pi, false)
		r.setState(pi, podStarting)
		r.schedule(pi, r.readiness.draw(), stepReady)
	}
}

// grace is what is left of a deleted pod's grace period.
func (r *run) grace(p *pod) time.Duration {
	return max(r.sc.Deployment.Template.TerminationGracePeriod.Std()-r.sc.Deployment.Template.PreStop.Std(), 0)
}

// deletePod deletes a pod as Kubernetes does: out of the endpoint set at
// once, serving through preStop, then draining until it is empty or its
// grace period ends.
func (r *run) deletePod(pi int32) {
	p := &r.pods[pi]
	if p.state >= podTerminating && p.state != podCrashed {
		return
	}
	wasCrashed := p.state == podCrashed
	r.setInSet(pi, false)
	if wasCrashed || p.state == podStarting && p.load() == 0 {
		r.setState(pi, podGone)
		return
	}
	r.setState(pi, podTerminating)
	r.schedule(pi, r.sc.Deployment.Template.PreStop.Std(), stepStopTake)
}

// endpointSet returns the pods in the endpoint set, in creation order.
func (r *run) endpointSet() []balancer.Backend {
	var set []balancer.Backend
	for i := range r.pods {
		if p := &r.pods[i]; p.inSet {
			set = append(set, balancer.Backend{ID: p.id, Weight: p.weight, Zone: p.zone})
		}
	}
	return set
}

// publish makes the endpoint set a new version and tells every proxy,
// each after its own propagation delay and in order.
func (r *run) publish() {
	r.dirty = false
	v := int32(r.versions.add(r.endpointSet()))
	r.m.changes++
	n := len(r.versions.get(int(v)))
	r.followSet(n)
	if r.m.changes == 1 || n < r.m.minSet {
		r.m.minSet = n
	}
	r.m.maxSet = max(r.m.maxSet, n)
	for i := range r.proxies {
		px := &r.proxies[i]
		at := max(r.now+r.propagate.draw(), px.lastSched)
		px.lastSched = at
		r.q.push(at, evProxyUpdate, int32(i), v, 0)
	}
}

// applyUpdate gives proxy i endpoint version v, measuring the disruption
// it causes.
func (r *run) applyUpdate(i, v int) {
	px := &r.proxies[i]
	var old balancer.Picker
	if px.updated {
		old = px.bal.Picker()
	}
	if err := px.bal.UpdateAt(r.unixNano(), r.versions.get(v)); err != nil {
		r.fail(fmt.Errorf("sim: proxy %d rejected endpoint version %d: %w", i, v, err))
		return
	}
	r.scheduleHealth(i)
	prev := px.version
	px.version, px.updated = v, true
	if prev != v {
		r.m.updated(update{
			at: r.now, proxy: i, old: old, now: px.bal.Picker(),
			from: r.versions.get(prev), to: r.versions.get(v), sessions: r.liveSessionKeys,
		})
	}
	oldest := v
	for j := range r.proxies {
		oldest = min(oldest, r.proxies[j].version)
	}
	r.versions.dropBefore(oldest)
}

// liveSessionKeys yields the keys of the live sessions, or of an even
// sample of n of them when there are more: every k-th.
func (r *run) liveSessionKeys(n int) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		stride := max(1, (r.liveSessions+n-1)/max(n, 1))
		seen := 0
		for s := range r.sessions {
			if ss := &r.sessions[s]; ss.live {
				if seen%stride == 0 && !yield(ss.hash) {
					return
				}
				seen++
			}
		}
	}
}

// versions holds the published endpoint sets that some proxy may still
// need: from the oldest version a proxy has applied to the newest, so
// memory stays bounded however long the run.
type versions struct {
	base int // the version number of sets[0]
	sets [][]balancer.Backend
}

// add appends a version and returns its number.
func (vs *versions) add(set []balancer.Backend) int {
	vs.sets = append(vs.sets, set)
	return vs.base + len(vs.sets) - 1
}

func (vs *versions) get(v int) []balancer.Backend { return vs.sets[v-vs.base] }

// dropBefore forgets the versions older than v.
func (vs *versions) dropBefore(v int) {
	if n := v - vs.base; n > 0 && n >= len(vs.sets)/2 {
		vs.sets = append(vs.sets[:0], vs.sets[n:]...)
		vs.base = v
	}
}
