package balancer

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer holds the current Picker and the endpoints behind it, and swaps
// both atomically on Update. The zero Balancer is not usable; call New.
//
// A Balancer is safe for concurrent use by multiple goroutines. Pick never
// blocks, not even while an Update builds the next Picker.
type Balancer struct {
	builder Builder
	decay   time.Duration
	total   *total // nil unless the Builder tracks the total in flight
	watch   *watch // shared by every endpoint the Balancer makes

	// current is read by Pick without a lock and replaced whole by Update
	// and Rebuild.
	current atomic.Pointer[snapshot]

	// published counts the snapshots published (Version).
	published atomic.Uint64

	// stale asks whoever holds mu to rebuild before letting go of it, at
	// the time it holds (Unix nanoseconds): Rebuild sets it when it cannot
	// take mu, so that it never waits.
	stale atomic.Int64

	// mu serialises Update and Rebuild; the fields below are guarded by
	// it. spare is the map of the set before byID's, kept to be reused by
	// the next Update instead of allocating one.
	mu    sync.Mutex
	byID  map[string]*Endpoint
	spare map[string]*Endpoint
	gate  Gate
}

// snapshot is one published endpoint set and the Picker built from it.
// Nothing in it changes after it is published.
type snapshot struct {
	picker    Picker
	endpoints []*Endpoint // as discovery reported them
	serving   []*Endpoint // as the Gate admitted them; endpoints when none
	version   uint64      // Balancer.Version
}

// New returns a Balancer that builds its Pickers with b. It has no
// endpoints until the first Update.
func New(b Builder) *Balancer {
	decay := DefaultLatencyDecay
	if d, ok := b.(LatencyDecayer); ok && d.LatencyDecay() > 0 {
		decay = d.LatencyDecay()
	}
	penalty := DefaultFailurePenalty
	if p, ok := b.(FailurePenalizer); ok && p.FailureLatency() > 0 {
		penalty = p.FailureLatency()
	}
	bal := &Balancer{builder: b, decay: decay, byID: map[string]*Endpoint{},
		watch: &watch{penalty: float64(penalty)}}
	if t, ok := b.(TotalInFlightTracker); ok && t.TrackTotalInFlight() {
		bal.total = &total{}
	}
	return bal
}

// Pick chooses an endpoint for req and counts the request in flight. The
// caller must end it with Result.Done. With no endpoints it returns
// ErrNoEndpoints.
func (b *Balancer) Pick(req Request) (Result, error) {
	s := b.current.Load()
	if s == nil {
		return Result{}, ErrNoEndpoints
	}
	e, err := s.picker.Pick(req)
	if err != nil {
		return Result{}, err
	}
	return e.Begin(), nil
}

// Update replaces the endpoint set with backends. It diffs by ID: an ID
// that stays keeps its load counters (in flight, latency, outcomes) even
// when its weight, address or zone change; a new ID starts from zero; an ID
// that leaves is dropped (its Endpoint's InSet turns false), and requests
// already picked for it still end normally with Done.
//
// Update validates every backend and builds the next Picker before it
// publishes anything: on an error (an empty or duplicate ID, or one the
// Builder rejects) it returns the error and the previous set keeps serving.
// It never blocks Pick. An empty list is valid: Pick then returns
// ErrNoEndpoints.
func (b *Balancer) Update(backends []Backend) error {
	return b.UpdateAt(time.Now().UnixNano(), backends)
}

// UpdateAt is Update at the given time (Unix nanoseconds): endpoints that
// join start healthy at now, and a Gate admits the set at now.
func (b *Balancer) UpdateAt(now int64, backends []Backend) error {
	b.mu.Lock()
	defer b.unlock()
	eps := make([]*Endpoint, len(backends))
	next := b.spare
	if next == nil {
		next = make(map[string]*Endpoint, len(backends))
	}
	clear(next)
	kept := 0 // IDs of the current set that stay
	for i, nb := range backends {
		// The map of the next set checks the IDs too: one map, not two.
		if nb.ID == "" {
			return checkID(nil, "", i)
		}
		if _, dup := next[nb.ID]; dup {
			return duplicateID(backends, i)
		}
		nb = nb.normalized()
		e := b.byID[nb.ID]
		if e != nil {
			kept++
		}
		switch {
		case e == nil:
			e = newWatched(nb, b.decay, b.total, b.watch, now)
		case e.Backend != nb:
			e = &Endpoint{Backend: nb, load: e.load}
		}
		eps[i] = e
		next[nb.ID] = e
	}
	if err := b.publish(now, eps); err != nil {
		return fmt.Errorf("balancer: update: %w", err)
	}
	if kept < len(b.byID) {
		// Some IDs leave: their endpoints are no longer in the set.
		for id, e := range b.byID {
			if _, stays := next[id]; !stays {
				e.load.health.Or(healthGone)
			}
		}
	}
	b.byID, b.spare = next, b.byID
	return nil
}

// publish admits eps through the Gate, builds a Picker from what it
// admits and publishes both. The caller holds mu.
func (b *Balancer) publish(now int64, eps []*Endpoint) error {
	serving := eps
	if b.gate != nil {
		serving = b.gate.Admit(now, eps, make([]*Endpoint, 0, len(eps)))
	}
	var p Picker
	var err error
	if pg, ok := b.gate.(PickerGate); ok {
		p, err = pg.BuildPicker(b.builder, serving)
	} else {
		p, err = b.builder.Build(serving)
	}
	if err != nil {
		return err
	}
	b.current.Store(&snapshot{picker: p, endpoints: eps, serving: serving, version: b.published.Add(1)})
	return nil
}

// Version returns a number that changes whenever the Balancer publishes a
// new Picker (an Update, a Rebuild): a cache of the set, such as a cookie
// session's index of endpoints, rebuilds when it changes. Zero means
// nothing was published yet. One atomic load.
func (b *Balancer) Version() uint64 {
	if s := b.current.Load(); s != nil {
		return s.version
	}
	return 0
}

// Rebuild admits the current endpoints through the Gate again at now (Unix
// nanoseconds) and publishes the Picker built from them: the health
// package calls it after a health transition. It never waits: when an
// Update or another Rebuild holds the Balancer, Rebuild leaves the work to
// it and returns at once. Without a Gate it does nothing.
func (b *Balancer) Rebuild(now int64) error {
	if now == 0 {
		now = time.Now().UnixNano()
	}
	b.stale.Store(now)
	if !b.mu.TryLock() {
		return nil
	}
	return b.unlockErr()
}

// unlock lets go of mu, after rebuilding for a Rebuild that could not
// take it.
func (b *Balancer) unlock() { _ = b.unlockErr() }

func (b *Balancer) unlockErr() error {
	var err error
	for {
		if now := b.stale.Swap(0); now != 0 {
			if s := b.current.Load(); s != nil && b.gate != nil {
				err = b.publish(now, s.endpoints)
			}
		}
		b.mu.Unlock()
		// A Rebuild that came in after the Swap and found mu held left
		// its work here.
		if b.stale.Load() == 0 || !b.mu.TryLock() {
			return err
		}
	}
}

// SetGate puts g between discovery and the Builder, watches failures as w
// says, and rebuilds at now. A nil g removes the Gate. The health package
// calls it; a Balancer has at most one Gate.
func (b *Balancer) SetGate(now int64, g Gate, w FailureWatch) error {
	b.mu.Lock()
	defer b.unlock()
	b.gate = g
	b.watch.limit.Store(uint64(w.ConsecutiveGateway)<<32 | uint64(w.Consecutive))
	if w.Trip != nil {
		b.watch.trip.Store(&w.Trip)
	} else {
		b.watch.trip.Store(nil)
	}
	if s := b.current.Load(); s != nil {
		return b.publish(now, s.endpoints)
	}
	return nil
}

// Builder returns the Builder the Balancer was made with.
func (b *Balancer) Builder() Builder { return b.builder }

// Serving returns the endpoints the current Picker chooses from: those
// the Gate admitted, with the weights it gave them (all of Endpoints when
// there is no Gate). The slice is the caller's; the Endpoints are shared.
func (b *Balancer) Serving() []*Endpoint {
	s := b.current.Load()
	if s == nil {
		return nil
	}
	return append([]*Endpoint(nil), s.serving...)
}

// duplicateID returns the error for backends[i], whose ID an earlier
// backend has.
func duplicateID(backends []Backend, i int) error {
	seen := make(map[string]int, i)
	for j := range backends[:i] {
		seen[backends[j].ID] = j
	}
	return checkID(seen, backends[i].ID, i)
}

// Endpoints returns the current endpoints in the order of the last
// successful Update, all of them, whether or not the Gate admits them to
// serve (see Serving). The slice is the caller's; the Endpoints are shared.
func (b *Balancer) Endpoints() []*Endpoint {
	s := b.current.Load()
	if s == nil {
		return nil
	}
	return append([]*Endpoint(nil), s.endpoints...)
}

// Picker returns the current Picker, an immutable snapshot that may be kept
// and picked from after later Updates. Picks made on it directly are not
// counted in flight unless the caller calls Endpoint.Begin.
func (b *Balancer) Picker() Picker {
	s := b.current.Load()
	if s == nil {
		return EmptyPicker{}
	}
	return s.picker
}
