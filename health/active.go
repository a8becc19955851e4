package health

import (
	"container/heap"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// ActiveConfig configures active health checking: every endpoint is probed
// once per Interval, and its state flips between healthy and unhealthy
// after runs of consecutive results, as HAProxy's "inter", "rise" and
// "fall" do. The zero ActiveConfig means every default: a TCP connect
// every 2 s with a 1 s timeout, up after 2 successes, down after 3
// failures.
type ActiveConfig struct {
	// Interval is the time from the end of one check of an endpoint to the
	// start of the next. Zero means 2 s (HAProxy's "inter 2000ms"). It must
	// be between 1 ms and 24 h.
	Interval time.Duration
	// Timeout bounds one check. Zero means 1 s (Kubernetes' default
	// timeoutSeconds), or Interval when that is shorter (HAProxy, without
	// "timeout check", bounds a check by "inter"). It must be between 1 ms
	// and 24 h. A Timeout above Interval is allowed: since the next check
	// is scheduled only once the last one is reported, checks of one
	// endpoint never overlap; a hanging endpoint is then checked every
	// Timeout + Interval, and found down after UnhealthyThreshold times
	// that.
	Timeout time.Duration
	// Jitter adds a uniformly random delay in [0, Jitter) to every
	// Interval, so that endpoints checked together drift apart. Zero means
	// none; the first checks are spread over one Interval regardless. It
	// must not exceed Interval.
	Jitter time.Duration
	// HealthyThreshold is the number of consecutive successful checks
	// that bring an unhealthy endpoint up ("rise"). Zero means 2, as in
	// HAProxy. It must be at most 1000.
	HealthyThreshold int
	// UnhealthyThreshold is the number of consecutive failed checks that
	// take a healthy endpoint down ("fall"). Zero means 3, as in HAProxy.
	// It must be at most 1000.
	//
	// Both thresholds count consecutive results, as Envoy and Kubernetes
	// do: one result resets the run of the other kind. HAProxy's counter
	// differs only in mixed sequences: a success amid failures of an up
	// server undoes one failure instead of all of them.
	UnhealthyThreshold int
	// StartUnhealthy makes a new endpoint start unhealthy, so that it gets
	// traffic only after HealthyThreshold successful checks. False (the
	// default) starts it healthy: an endpoint from a Kubernetes
	// EndpointSlice is listed as ready only after the kubelet's readiness
	// probe has passed, so starting it unhealthy would keep a fresh, ready
	// pod out for HealthyThreshold x Interval for nothing. Set it when
	// discovery does not check readiness (a static list, DNS).
	StartUnhealthy bool
	// Probe checks one endpoint. Nil means TCPProbe{}.
	Probe Probe
}

// Bounds of ActiveConfig's fields.
const (
	activeMinDuration  = time.Millisecond
	activeMaxDuration  = 24 * time.Hour
	activeMaxThreshold = 1000
)

// WithDefaults returns c with every zero field replaced by its documented
// default. It leaves invalid values as they are; see Validate.
func (c ActiveConfig) WithDefaults() ActiveConfig {
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = min(time.Second, c.Interval)
	}
	if c.HealthyThreshold == 0 {
		c.HealthyThreshold = 2
	}
	if c.UnhealthyThreshold == 0 {
		c.UnhealthyThreshold = 3
	}
	if c.Probe == nil {
		c.Probe = TCPProbe{}
	}
	return c
}

// Validate reports whether c, with its defaults applied, is usable:
// Interval and Timeout between 1 ms and 24 h, Jitter between 0 and
// Interval, thresholds between 1 and 1000, and an HTTPProbe that passes
// its own Validate. Errors wrap ErrConfig.
func (c ActiveConfig) Validate() error {
	d := c.WithDefaults()
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"interval", d.Interval}, {"timeout", d.Timeout}} {
		if f.v < activeMinDuration || f.v > activeMaxDuration {
			return fmt.Errorf("%w: active check %s %v is outside [%v, %v]", ErrConfig, f.name, f.v, activeMinDuration, activeMaxDuration)
		}
	}
	if d.Jitter < 0 || d.Jitter > d.Interval {
		return fmt.Errorf("%w: active check jitter %v is outside [0, interval %v]", ErrConfig, d.Jitter, d.Interval)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"healthy", d.HealthyThreshold}, {"unhealthy", d.UnhealthyThreshold}} {
		if f.v < 1 || f.v > activeMaxThreshold {
			return fmt.Errorf("%w: active check %s threshold %d is outside [1, %d]", ErrConfig, f.name, f.v, activeMaxThreshold)
		}
	}
	switch p := d.Probe.(type) {
	case HTTPProbe:
		return p.Validate()
	case *HTTPProbe:
		if p == nil {
			return fmt.Errorf("%w: nil *HTTPProbe", ErrConfig)
		}
		return p.Validate()
	}
	return nil
}

// ActiveStatus is what active checking knows of one endpoint, for
// observability.
type ActiveStatus struct {
	// Healthy says whether the endpoint is up.
	Healthy bool
	// Successes and Failures are the lengths of the current runs of
	// consecutive successful and failed checks; at most one is non-zero.
	Successes, Failures int
	// LastError is the message of the most recent failed check; empty if
	// none has failed. Failures > 0 says whether it is current.
	LastError string
	// LastCheck is when the most recent check was reported, in Unix
	// nanoseconds; zero if none has been.
	LastCheck int64
	// Checks counts the checks reported.
	Checks uint64
}

// active is the schedule and state machine of active checks over a set of
// endpoints keyed by ID, on injected time (Unix nanoseconds). It reads no
// clock, starts no goroutine and runs no probe: its owner asks which
// endpoints are due, probes them, and reports each result.
//
// active is not safe for concurrent use; its owner serialises calls.
type active struct {
	cfg  ActiveConfig
	seed uint64
	rng  *rand.Rand
	byID map[string]*activeEntry
	// queue holds the entries not in progress, by due time then ID.
	queue activeQueue
	gen   uint64 // sync's mark-and-sweep generation
}

// activeEntry is one endpoint's schedule and state.
type activeEntry struct {
	ep         *balancer.Endpoint
	due        int64
	index      int // in queue; -1 while a check is in progress
	inProgress bool
	gen        uint64
	st         ActiveStatus
}

// newActive returns an empty active for cfg, which must already have its
// defaults applied and be valid. seed drives the first-check offsets and
// the jitter.
func newActive(cfg ActiveConfig, seed uint64) *active {
	return &active{
		cfg:  cfg,
		seed: seed,
		rng:  rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		byID: make(map[string]*activeEntry),
	}
}

// sync makes eps the set of endpoints checked. IDs new to the set get their
// first check at now plus an offset in [0, Interval) that is a pure
// function of the ID and the seed, so that endpoints added together are
// not all probed at once and a restart with the same seed keeps the same
// phases. IDs that stay keep their state and schedule, and take the
// newest *Endpoint; IDs absent from eps are dropped, even mid-check. Nil
// endpoints are skipped; of two with the same ID the later wins.
func (a *active) sync(eps []*balancer.Endpoint, now int64) {
	a.gen++
	for _, e := range eps {
		if e == nil {
			continue
		}
		if ent, ok := a.byID[e.ID]; ok {
			ent.ep, ent.gen = e, a.gen
			continue
		}
		ent := &activeEntry{
			ep:  e,
			due: addSat(now, a.firstOffset(e.ID)),
			gen: a.gen,
			st:  ActiveStatus{Healthy: !a.cfg.StartUnhealthy},
		}
		a.byID[e.ID] = ent
		heap.Push(&a.queue, ent)
	}
	for id, ent := range a.byID {
		if ent.gen == a.gen {
			continue
		}
		delete(a.byID, id)
		if ent.index >= 0 {
			heap.Remove(&a.queue, ent.index)
		}
	}
}

// firstOffset returns the delay of id's first check in [0, Interval): the
// XXH64 hash of the ID mixed with the seed by SplitMix64's finaliser,
// scaled to the interval by a 128-bit multiply.
func (a *active) firstOffset(id string) int64 {
	x := balancer.HashString(id) ^ xrand.Mix64(a.seed+0x9e3779b97f4a7c15)
	hi, _ := bits.Mul64(xrand.Mix64(x), uint64(a.cfg.Interval))
	return int64(hi)
}

// due appends to dst the endpoints whose check is due at now, earliest
// first, marks them in progress (not due again until reported), and
// returns the extended slice.
func (a *active) due(now int64, dst []*balancer.Endpoint) []*balancer.Endpoint {
	for len(a.queue) > 0 && a.queue[0].due <= now {
		ent := heap.Pop(&a.queue).(*activeEntry)
		ent.inProgress = true
		dst = append(dst, ent.ep)
	}
	return dst
}

// next returns the earliest time a check is due, or math.MaxInt64 if none
// is (no endpoint, or every check in progress).
func (a *active) next() int64 {
	if len(a.queue) == 0 {
		return math.MaxInt64
	}
	return a.queue[0].due
}

// report records the result of the check of id that due handed out, err
// nil for a success, finished at now. It applies the thresholds, schedules
// the next check at now + Interval + a uniform jitter in [0, Jitter), and
// returns whether the endpoint's health changed and what it is now. A
// report for an unknown ID, or for one with no check in progress, is
// ignored (changed false).
func (a *active) report(id string, err error, now int64) (changed, healthy bool) {
	ent, ok := a.byID[id]
	if !ok {
		return false, false
	}
	st := &ent.st
	if !ent.inProgress {
		return false, st.Healthy
	}
	ent.inProgress = false
	st.Checks++
	st.LastCheck = now
	if err == nil {
		st.Successes++
		st.Failures = 0
		if !st.Healthy && st.Successes >= a.cfg.HealthyThreshold {
			st.Healthy, changed = true, true
		}
	} else {
		st.Failures++
		st.Successes = 0
		st.LastError = err.Error()
		if st.Healthy && st.Failures >= a.cfg.UnhealthyThreshold {
			st.Healthy, changed = false, true
		}
	}
	delay := int64(a.cfg.Interval)
	if a.cfg.Jitter > 0 {
		delay += a.rng.Int64N(int64(a.cfg.Jitter))
	}
	ent.due = addSat(now, delay)
	heap.Push(&a.queue, ent)
	return changed, st.Healthy
}

// healthy reports whether id is up, and whether it is in the set at all.
func (a *active) healthy(id string) (healthy, known bool) {
	ent, ok := a.byID[id]
	if !ok {
		return false, false
	}
	return ent.st.Healthy, true
}

// status returns what is known of id; the zero ActiveStatus if it is not
// in the set.
func (a *active) status(id string) ActiveStatus {
	if ent, ok := a.byID[id]; ok {
		return ent.st
	}
	return ActiveStatus{}
}

// addSat returns t + d (d >= 0), saturating at math.MaxInt64.
func addSat(t, d int64) int64 {
	if t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}

// activeQueue is a min-heap of entries by due time, then ID, so that the
// order of due is a total order, independent of the heap's history.
type activeQueue []*activeEntry

func (q activeQueue) Len() int { return len(q) }

func (q activeQueue) Less(i, j int) bool {
	if q[i].due != q[j].due {
		return q[i].due < q[j].due
	}
	return q[i].ep.ID < q[j].ep.ID
}

func (q activeQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *activeQueue) Push(x any) {
	ent := x.(*activeEntry)
	ent.index = len(*q)
	*q = append(*q, ent)
}

func (q *activeQueue) Pop() any {
	old := *q
	n := len(old) - 1
	ent := old[n]
	old[n] = nil
	ent.index = -1
	*q = old[:n]
	return ent
}
