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

	// current is read by Pick without a lock and replaced whole by Update.
	current atomic.Pointer[snapshot]

	// mu serialises Update; byID and spare are guarded by it. spare is
	// the map of the set before byID's, kept to be reused by the next
	// Update instead of allocating one.
	mu    sync.Mutex
	byID  map[string]*Endpoint
	spare map[string]*Endpoint
}

// snapshot is one published endpoint set and the Picker built from it.
// Neither changes after it is published.
type snapshot struct {
	picker    Picker
	endpoints []*Endpoint
}

// New returns a Balancer that builds its Pickers with b. It has no
// endpoints until the first Update.
func New(b Builder) *Balancer {
	decay := DefaultLatencyDecay
	if d, ok := b.(LatencyDecayer); ok && d.LatencyDecay() > 0 {
		decay = d.LatencyDecay()
	}
	bal := &Balancer{builder: b, decay: decay, byID: map[string]*Endpoint{}}
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
// that leaves is dropped, and requests already picked for it still end
// normally with Done.
//
// Update validates every backend and builds the next Picker before it
// publishes anything: on an error (an empty or duplicate ID, or one the
// Builder rejects) it returns the error and the previous set keeps serving.
// It never blocks Pick. An empty list is valid: Pick then returns
// ErrNoEndpoints.
func (b *Balancer) Update(backends []Backend) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	eps := make([]*Endpoint, len(backends))
	next := b.spare
	if next == nil {
		next = make(map[string]*Endpoint, len(backends))
	}
	clear(next)
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
		switch {
		case e == nil:
			e = newEndpoint(nb, b.decay, b.total)
		case e.Backend != nb:
			e = &Endpoint{Backend: nb, load: e.load}
		}
		eps[i] = e
		next[nb.ID] = e
	}
	p, err := b.builder.Build(eps)
	if err != nil {
		return fmt.Errorf("balancer: update: %w", err)
	}
	b.current.Store(&snapshot{picker: p, endpoints: eps})
	b.byID, b.spare = next, b.byID
	return nil
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
// successful Update. The slice is the caller's; the Endpoints are shared.
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
