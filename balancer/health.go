package balancer

import (
	"sync/atomic"
	"time"
)

// Health is an endpoint's health as the health package (or another
// policy) has marked it. The zero Health is a healthy endpoint that was
// never ejected.
type Health struct {
	// Down says the endpoint fails its active health checks.
	Down bool
	// Ejected says outlier detection has taken the endpoint out.
	Ejected bool
	// Ejections is how many times the endpoint was ejected; the length of
	// its next ejection grows with it.
	Ejections int
	// EjectedUntil is when the current ejection ends, in Unix nanoseconds;
	// zero unless Ejected.
	EjectedUntil int64
	// Since is when the endpoint joined the set or last turned healthy, in
	// Unix nanoseconds: slow start ramps its weight up from there. Zero
	// for an endpoint made by NewEndpoint until a policy marks it.
	Since int64
}

// Healthy reports whether the endpoint may serve: not down, not ejected.
func (h Health) Healthy() bool { return !h.Down && !h.Ejected }

// health bits, in load.health.
const (
	healthDown     = 1 << 0
	healthEjected  = 1 << 1
	healthGone     = 1 << 2 // an Update dropped its ID; a later one makes a new Endpoint
	ejectionsShift = 32
)

// InSet reports whether the endpoint is still in its Balancer's set: false
// once an Update has dropped its ID (an Update that adds the ID again makes
// a new Endpoint). An endpoint made by NewEndpoint is always in its set.
// It is one atomic load: a sticky-session table checks it on every use.
func (e *Endpoint) InSet() bool { return e.load.health.Load()&healthGone == 0 }

// Usable reports whether the endpoint is in its Balancer's set and
// healthy (neither down nor ejected): what a session pinned to it needs
// to go on using it.
func (e *Endpoint) Usable() bool {
	return e.load.health.Load()&(healthGone|healthDown|healthEjected) == 0
}

// Health returns the endpoint's health. It is shared, as the load counters
// are, by every Endpoint value of the same ID in a Balancer, so it
// survives Updates.
func (e *Endpoint) Health() Health {
	l := e.load
	bits := l.health.Load()
	h := Health{
		Down:      bits&healthDown != 0,
		Ejected:   bits&healthEjected != 0,
		Ejections: int(bits >> ejectionsShift),
		Since:     l.since.Load(),
	}
	if h.Ejected {
		h.EjectedUntil = l.until.Load()
	}
	return h
}

// Healthy reports whether the endpoint is neither down nor ejected.
func (e *Endpoint) Healthy() bool {
	return e.load.health.Load()&(healthDown|healthEjected) == 0
}

// The setters below are for health policies (the health package). They
// change the shared state at once; the Balancer's published set follows at
// its next Rebuild. Each reports whether it changed anything.

// SetDown marks the endpoint as failing its active checks, or as passing
// them again. An endpoint that turns healthy at now starts its slow start
// from now.
func (e *Endpoint) SetDown(down bool, now int64) bool {
	return e.setBit(healthDown, down, now)
}

// Eject marks the endpoint ejected until the given time, counts the
// ejection, and clears its consecutive-failure counts (a returning
// endpoint starts from zero, as in Envoy).
func (e *Endpoint) Eject(until int64) bool {
	l := e.load
	for {
		old := l.health.Load()
		if old&healthEjected != 0 {
			return false
		}
		l.until.Store(until)
		if l.health.CompareAndSwap(old, (old|healthEjected)+1<<ejectionsShift) {
			l.consec.Store(0)
			return true
		}
	}
}

// Uneject ends the endpoint's ejection at now; its ejection count stays.
func (e *Endpoint) Uneject(now int64) bool {
	return e.setBit(healthEjected, false, now)
}

// Forgive takes one from the endpoint's ejection count, down to zero, so
// that an endpoint that stays healthy earns shorter ejections again.
func (e *Endpoint) Forgive() {
	l := e.load
	for {
		old := l.health.Load()
		if old>>ejectionsShift == 0 || l.health.CompareAndSwap(old, old-1<<ejectionsShift) {
			return
		}
	}
}

func (e *Endpoint) setBit(bit uint64, on bool, now int64) bool {
	l := e.load
	for {
		old := l.health.Load()
		next := old &^ bit
		if on {
			next |= bit
		}
		if next == old {
			return false
		}
		if l.health.CompareAndSwap(old, next) {
			if old&(healthDown|healthEjected) != 0 && next&(healthDown|healthEjected) == 0 {
				l.since.Store(now)
			}
			return true
		}
	}
}

// ConsecutiveFailures returns the endpoint's current run of failures: all
// of them (upstream and gateway, Envoy's consecutive 5xx) and the gateway
// failures alone. A success ends both runs; an upstream failure ends the
// gateway run.
func (e *Endpoint) ConsecutiveFailures() (failures, gateway uint32) {
	v := e.load.consec.Load()
	return uint32(v), uint32(v >> 32)
}

// Penalty returns the endpoint's failure penalty: its consecutive
// failures, capped at MaxPenalty. Load-aware pickers add it to the
// requests in flight (see Load), so an endpoint that fails fast, and so
// holds nothing in flight, does not look idle.
func (e *Endpoint) Penalty() int64 {
	return int64(min(uint32(e.load.consec.Load()), MaxPenalty))
}

// MaxPenalty caps an endpoint's failure penalty. An endpoint that keeps
// failing looks as loaded as one with this many requests in flight more
// than it holds, so a least-request picker sends it a request only when
// the endpoint it is compared with holds more. The cap is low so that,
// after an outage of every endpoint, the first to recover do not draw
// every request until the others have had a success: the queue it lets
// build on them is this deep.
const MaxPenalty = 8

// Load returns the requests in flight plus the failure penalty: what
// load-aware pickers compare.
func (e *Endpoint) Load() int64 {
	l := e.load
	return e.InFlight() + int64(min(uint32(l.consec.Load()), MaxPenalty))
}

// WithWeight returns a view of e with another weight, sharing e's
// counters and health, for policies that adjust weights (slow start).
// A weight of zero means 1.
func (e *Endpoint) WithWeight(w uint32) *Endpoint {
	b := e.Backend
	b.Weight = max(w, 1)
	return &Endpoint{Backend: b, load: e.load}
}

// Gate shapes the endpoint set between discovery and the Builder: it
// chooses which endpoints serve and with what weight. The health package's
// Monitor is one. A Balancer calls Admit under its update lock, from
// Update, UpdateAt and Rebuild, never from Pick.
type Gate interface {
	// Admit appends to dst the endpoints of all that should serve at now,
	// in the order of all, each either itself or a view made by
	// WithWeight, and returns dst. all is the set discovery reported.
	Admit(now int64, all, dst []*Endpoint) []*Endpoint
}

// PickerGate is a Gate that builds the Picker itself from the endpoints
// it admitted, with the Balancer's Builder: the health package's slow
// start for hash pickers composes two tables this way. A Balancer whose
// Gate is a PickerGate calls BuildPicker right after Admit, under the same
// lock, instead of the Builder's Build.
type PickerGate interface {
	Gate
	BuildPicker(b Builder, serving []*Endpoint) (Picker, error)
}

// FailureWatch asks a Balancer to report runs of failures as Result.Done
// counts them.
type FailureWatch struct {
	// Consecutive is the run of failures of any kind (Envoy's consecutive
	// 5xx) that calls Trip. Zero means none.
	Consecutive uint32
	// ConsecutiveGateway is the run of gateway failures that calls Trip.
	// Zero means none.
	ConsecutiveGateway uint32
	// Trip is called once each time a run reaches its threshold, with the
	// run's kind (GatewayFailure for the gateway run, UpstreamFailure for
	// the run of any failure; both, in that order, when one Done completes
	// both runs) and the time of the Done. It runs on the goroutine that called
	// Result.Done and should return quickly. Nil means none.
	Trip func(e *Endpoint, f Failure, now int64)
}

// watch is a Balancer's failure watch, shared by its endpoints. Its fields
// are set once, before any endpoint refers to it.
type watch struct {
	limit   atomic.Uint64 // Consecutive in the low half, ConsecutiveGateway in the high
	trip    atomic.Pointer[func(*Endpoint, Failure, int64)]
	penalty float64 // nanoseconds; the latency a failure counts as at least; constant
}

// FailurePenalizer is implemented by Builders whose pickers read latency:
// a failed request is folded into the endpoint's peak EWMA as a sample of
// at least FailureLatency, so a fast error is never good news.
type FailurePenalizer interface {
	FailureLatency() time.Duration
}

// DefaultFailurePenalty is the latency a failed request counts as at
// least, when the Builder does not say.
const DefaultFailurePenalty = time.Second

// fire calls Trip for each run in run that has just reached its
// threshold: the gateway run first, then the run of any failure.
func (w *watch) fire(e *Endpoint, run uint64, now int64) {
	limit := w.limit.Load()
	if limit == 0 {
		return
	}
	gw := uint32(limit>>32) != 0 && uint32(run>>32) == uint32(limit>>32)
	all := uint32(limit) != 0 && uint32(run) == uint32(limit)
	if !gw && !all {
		return
	}
	trip := w.trip.Load()
	if trip == nil {
		return
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	if gw {
		(*trip)(e, GatewayFailure, now)
	}
	if all {
		(*trip)(e, UpstreamFailure, now)
	}
}
