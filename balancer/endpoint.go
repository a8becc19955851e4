package balancer

import (
	"math"
	"sync/atomic"
	"time"
)

// Backend is one endpoint as discovery reports it: a pod address from an
// EndpointSlice, a gRPC resolver address, a line of static configuration.
type Backend struct {
	// ID is the backend's stable identity. Balancer.Update diffs by it and
	// hash pickers hash exactly this string, so it must be the same on every
	// proxy (an address such as "10.0.0.7:8080" is the usual choice). It must
	// not be empty.
	ID string
	// Addr is where to send traffic. Empty means ID.
	Addr string
	// Weight is the backend's relative share of requests. Zero means 1.
	Weight uint32
	// Zone is the backend's topology zone, for zone-aware use. Empty means
	// unknown.
	Zone string
}

// normalized returns b with the documented defaults applied.
func (b Backend) normalized() Backend {
	if b.Weight == 0 {
		b.Weight = 1
	}
	if b.Addr == "" {
		b.Addr = b.ID
	}
	return b
}

// DefaultLatencyDecay is the time constant of an endpoint's peak-EWMA
// latency when no Builder asks for another (Linkerd's and Finagle's default).
const DefaultLatencyDecay = 10 * time.Second

// Endpoint is the live view of a Backend. Its Backend fields are normalised
// (Weight at least 1, Addr filled in) and never change; its load counters
// are shared by every Endpoint value the Balancer makes for the same ID, so
// they survive updates, including a change of weight or address.
//
// An Endpoint is safe for concurrent use by multiple goroutines.
type Endpoint struct {
	Backend
	load *load
}

// load holds an endpoint's live state. Every field is accessed atomically
// except decay, which is set before the load is shared and never changes.
// The struct fills two cache lines so that neighbouring endpoints never
// share one under parallel picks.
type load struct {
	// state packs the requests in flight (low inFlightBits bits) and the
	// count of completed requests (the high bits), so that ending a request
	// is a single atomic add.
	state    atomic.Uint64
	failures atomic.Uint64
	// ewma is the peak-EWMA latency in nanoseconds as float64 bits; zero
	// means no sample yet. stamp is the UnixNano time of the last sample.
	ewma  atomic.Uint64
	stamp atomic.Int64
	decay float64 // nanoseconds; constant
	// total, when not nil, counts the requests in flight across every
	// endpoint of one Balancer. Constant.
	total *total
	// consec holds the current run of failures of any kind (low half) and
	// of gateway failures (high half).
	consec atomic.Uint64
	// health holds the health bits and, from bit 32 up, the ejection
	// count; until is when the ejection ends and since when the endpoint
	// last turned healthy (Unix nanoseconds).
	health atomic.Uint64
	until  atomic.Int64
	since  atomic.Int64
	// watch is the Balancer's failure watch; nil for an endpoint made by
	// NewEndpoint. Constant.
	watch *watch
	_     [128 - 11*8]byte
}

// total is a Balancer-wide count of requests in flight, on a cache line of
// its own.
type total struct {
	inFlight atomic.Int64
	_        [120]byte
}

const (
	inFlightBits = 24
	inFlightMask = 1<<inFlightBits - 1
	// doneDelta, added to state, takes one request out of flight and counts
	// it completed: +1<<inFlightBits - 1 with the borrow carried.
	doneDelta = 1<<inFlightBits - 1
)

// NewEndpoint returns a fresh Endpoint for b, with the defaults applied and
// zeroed counters, for callers that drive a Builder themselves. A Balancer
// makes its own Endpoints; use NewEndpoint only outside one.
func NewEndpoint(b Backend) *Endpoint {
	return newEndpoint(b, DefaultLatencyDecay, nil)
}

func newEndpoint(b Backend, decay time.Duration, t *total) *Endpoint {
	return &Endpoint{Backend: b.normalized(), load: &load{decay: float64(decay), total: t}}
}

// newWatched is newEndpoint for a Balancer: it shares the Balancer's
// failure watch and starts healthy at now.
func newWatched(b Backend, decay time.Duration, t *total, w *watch, now int64) *Endpoint {
	e := newEndpoint(b, decay, t)
	e.load.watch = w
	e.load.since.Store(now)
	return e
}

// InFlight returns the number of requests picked for this endpoint whose
// Result.Done has not been called yet. An endpoint holds at most 8,388,607
// requests in flight.
func (e *Endpoint) InFlight() int64 {
	// Sign-extend the 24-bit field, so that a Done called twice shows as a
	// negative count instead of a huge one.
	return int64(int32(uint32(e.load.state.Load()&inFlightMask)<<(32-inFlightBits)) >> (32 - inFlightBits))
}

// TotalInFlight returns the number of requests in flight across every
// endpoint of the Balancer that made e, in O(1), and true; or 0 and false
// when that Balancer does not keep the total (its Builder does not
// implement TotalInFlightTracker) or e was made by NewEndpoint. The total
// includes requests still in flight to endpoints that have since left.
func (e *Endpoint) TotalInFlight() (int64, bool) {
	if t := e.load.total; t != nil {
		return t.inFlight.Load(), true
	}
	return 0, false
}

// Completed returns the number of requests that ended with Result.Done,
// modulo 2^40.
func (e *Endpoint) Completed() uint64 { return e.load.state.Load() >> inFlightBits }

// Failures returns the number of requests that ended as an
// UpstreamFailure or a GatewayFailure (see DoneInfo.Failure).
func (e *Endpoint) Failures() uint64 { return e.load.failures.Load() }

// Successes returns the number of requests that ended without an error.
func (e *Endpoint) Successes() uint64 {
	done, failed := e.Completed(), e.Failures()
	if failed > done {
		return 0
	}
	return done - failed
}

// Latency returns the endpoint's peak-EWMA latency at now (Unix
// nanoseconds; zero means time.Now()): the estimate jumps up to any slower
// sample at once and decays towards faster ones, and towards zero while no
// sample arrives, with the time constant of the Balancer's Builder
// (DefaultLatencyDecay unless it asks otherwise). Zero means the endpoint
// has no sample yet.
func (e *Endpoint) Latency(now int64) time.Duration {
	return time.Duration(e.load.decayed(now))
}

// decayed returns the EWMA in nanoseconds decayed to now.
func (l *load) decayed(now int64) float64 {
	v := math.Float64frombits(l.ewma.Load())
	if v == 0 {
		return 0
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	if dt := float64(now - l.stamp.Load()); dt > 0 {
		v *= math.Exp(-dt / l.decay)
	}
	return v
}

// Begin counts a request to e as in flight and returns the Result that
// ends it. Balancer.Pick calls it; callers that drive a Picker themselves
// call it after their own Pick.
func (e *Endpoint) Begin() Result {
	l := e.load
	l.state.Add(1)
	if l.total != nil {
		l.total.inFlight.Add(1)
	}
	return Result{Endpoint: e}
}

func (e *Endpoint) end(d DoneInfo) {
	l := e.load
	l.state.Add(doneDelta)
	if l.total != nil {
		l.total.inFlight.Add(-1)
	}
	if d.Failure == 0 && d.Err == nil || d.Failure == Success {
		// A success ends both runs of failures. Most endpoints have none,
		// and a load of the line just written is cheaper than a store.
		if l.consec.Load() != 0 {
			l.consec.Store(0)
		}
		if d.Latency > 0 {
			l.observe(d.Latency, d.Now)
		}
		return
	}
	e.failed(d)
}

// failed counts a request that ended without success, kept out of end
// so that the success path stays small.
func (e *Endpoint) failed(d DoneInfo) {
	l := e.load
	k := d.kind()
	if k == Canceled || k == 0 {
		return
	}
	l.failures.Add(1)
	run := l.countFailure(k)
	lat := float64(d.Latency)
	if w := l.watch; w != nil {
		w.fire(e, run, d.Now)
		lat = max(lat, w.penalty)
	} else {
		lat = max(lat, float64(DefaultFailurePenalty))
	}
	l.observe(time.Duration(lat), d.Now)
}

// countFailure adds one failure of kind k to the endpoint's runs and
// returns them as they now are.
func (l *load) countFailure(k Failure) uint64 {
	if k == GatewayFailure {
		return l.consec.Add(1<<32 | 1)
	}
	for {
		// An upstream failure goes on the run of any failure and ends the
		// run of gateway failures.
		old := l.consec.Load()
		next := uint64(uint32(old) + 1)
		if l.consec.CompareAndSwap(old, next) {
			return next
		}
	}
}

// observe folds one latency sample taken at now into the peak EWMA, as
// Finagle and Linkerd do: the estimate first decays to now; a sample at or
// above it replaces it (the peak), a lower one is averaged in with weight
// 1 - exp(-elapsed/decay).
func (l *load) observe(rtt time.Duration, now int64) {
	if now == 0 {
		now = time.Now().UnixNano()
	}
	sample := float64(rtt)
	for {
		oldBits := l.ewma.Load()
		old := math.Float64frombits(oldBits)
		next := sample
		if old != 0 {
			w := 1.0
			if dt := float64(now - l.stamp.Load()); dt > 0 {
				w = math.Exp(-dt / l.decay)
			}
			if decayed := old * w; sample < decayed {
				next = decayed + sample*(1-w)
			}
		}
		if l.ewma.CompareAndSwap(oldBits, math.Float64bits(next)) {
			l.stamp.Store(now)
			return
		}
	}
}
