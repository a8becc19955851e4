package affinity_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
)

// byKey is a Builder whose pickers send key k to the endpoint whose ID
// is stickyID(k), when it is in the set, and fail otherwise: a session's
// endpoint is known from its key.
type byKey struct{}

const byKeyIDs = 16

func stickyID(k uint64) string { return fmt.Sprintf("ep-%02d", k%byKeyIDs) }

type byKeyPicker [byKeyIDs]*balancer.Endpoint

func (byKey) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	var p byKeyPicker
	for _, e := range eps {
		var i int
		if _, err := fmt.Sscanf(e.ID, "ep-%d", &i); err != nil || i < 0 || i >= byKeyIDs {
			return nil, fmt.Errorf("byKey: bad ID %q", e.ID)
		}
		p[i] = e
	}
	return &p, nil
}

func (p *byKeyPicker) Pick(r balancer.Request) (*balancer.Endpoint, error) {
	if e := p[r.Hash%byKeyIDs]; e != nil {
		return e, nil
	}
	return nil, balancer.ErrNoEndpoints
}

// unusable tracks, for TestStickyRace, since when an endpoint has been
// unusable for each reason: the epoch in which the transition completed,
// or -1 while it is usable for that reason or about to be.
type unusable struct {
	gone, down, ejected atomic.Int64
}

// since returns the earliest epoch from which e has been unusable without
// a break, or -1.
func (u *unusable) since() int64 {
	s := int64(-1)
	for _, v := range []int64{u.gone.Load(), u.down.Load(), u.ejected.Load()} {
		if v >= 0 && (s < 0 || v < s) {
			s = v
		}
	}
	return s
}

// Picks and lookups race Updates that take endpoints out and bring them
// back, health changes, expiry, evictions and Forget (run with -race). No
// answer is ever another key's endpoint, nor, from a lookup or a pick
// that hit, one that was unusable (gone, down or ejected) from before the
// call began until after it returned; every request ends.
func TestStickyRace(t *testing.T) {
	all := make([]balancer.Backend, byKeyIDs)
	for i := range all {
		all[i] = balancer.Backend{ID: stickyID(uint64(i))}
	}
	b := balancer.New(byKey{})
	require.NoError(t, b.Update(all))
	s := newSticky(t, affinity.StickyConfig{Timeout: time.Second, MaxEntries: 64})

	// The updater changes an endpoint's state, then records it under the
	// current epoch, then moves to the next epoch; it marks a state that
	// is about to end with -1 before it ends it. A caller that reads epoch
	// start before its call, and finds a record below start after it,
	// knows the endpoint was unusable throughout the call.
	var clock, epoch atomic.Int64
	clock.Store(stickyT0)
	var states sync.Map // *balancer.Endpoint: *unusable
	track := func(e *balancer.Endpoint) *unusable {
		u := &unusable{}
		u.gone.Store(-1)
		u.down.Store(-1)
		u.ejected.Store(-1)
		v, _ := states.LoadOrStore(e, u)
		return v.(*unusable)
	}
	for _, e := range b.Endpoints() {
		track(e)
	}
	var failures atomic.Int64
	var first atomic.Value
	fail := func(format string, args ...any) {
		if failures.Add(1) == 1 {
			first.Store(fmt.Sprintf(format, args...))
		}
	}
	check := func(key uint64, e *balancer.Endpoint, start int64, pinned bool) {
		if e.ID != stickyID(key) {
			fail("key %d: got %s, want %s", key, e.ID, stickyID(key))
		}
		v, ok := states.Load(e)
		if !ok {
			return // new in an Update that has not returned yet
		}
		u := v.(*unusable)
		if gone := u.gone.Load(); gone >= 0 && gone < start {
			fail("key %d: got %s, which left in epoch %d, before the call began in epoch %d", key, e.ID, gone, start)
		}
		if since := u.since(); pinned && since >= 0 && since < start {
			fail("key %d: got a pinned %s, unusable since epoch %d, before the call began in epoch %d", key, e.ID, since, start)
		}
	}
	var hits, picks atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := r.Uint64N(512)
				start, now := epoch.Load(), clock.Load()
				switch {
				case g%2 == 0:
					res, hit, err := s.Pick(b, key, balancer.Request{Hash: key, HasHash: true}, now)
					if err != nil {
						if !errors.Is(err, balancer.ErrNoEndpoints) {
							fail("key %d: %v", key, err)
						}
						continue
					}
					picks.Add(1)
					if hit {
						hits.Add(1)
					}
					// A pick through the Balancer may return a down
					// endpoint: no Gate filters them here.
					check(key, res.Endpoint, start, hit)
					res.Done(balancer.DoneInfo{})
				case r.IntN(50) == 0:
					s.Forget(key)
				default:
					if e, ok := s.Lookup(key, now); ok {
						check(key, e, start, true)
					}
				}
			}
		})
	}
	r := rand.New(rand.NewPCG(99, 1))
	for range 3000 {
		old := b.Endpoints()
		var next []balancer.Backend
		for _, bk := range all {
			if r.IntN(8) != 0 {
				next = append(next, bk)
			}
		}
		require.NoError(t, b.UpdateAt(clock.Load(), next))
		cur := map[*balancer.Endpoint]bool{}
		for _, e := range b.Endpoints() {
			cur[e] = true
			track(e)
		}
		for _, e := range old {
			if !cur[e] {
				track(e).gone.Store(epoch.Load())
			}
		}
		if eps := b.Endpoints(); len(eps) > 0 {
			e := eps[r.IntN(len(eps))]
			u := track(e)
			switch r.IntN(4) {
			case 0:
				if e.SetDown(true, clock.Load()) {
					u.down.Store(epoch.Load())
				}
			case 1:
				u.down.Store(-1)
				e.SetDown(false, clock.Load())
			case 2:
				if e.Eject(clock.Load() + int64(time.Second)) {
					u.ejected.Store(epoch.Load())
				}
			case 3:
				u.ejected.Store(-1)
				e.Uneject(clock.Load())
			}
		}
		epoch.Add(1)
		clock.Add(int64(20 * time.Millisecond))
		if r.IntN(100) == 0 {
			time.Sleep(time.Millisecond) // let the readers run
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failures, the first: %s", n, first.Load())
	}
	t.Logf("%d picks, %d hits; %d sessions evicted, %d held of %d", picks.Load(), hits.Load(), s.Evictions(), s.Len(), s.Cap())
	assert.Positive(t, hits.Load())
	assert.Positive(t, s.Evictions())
	assert.LessOrEqual(t, s.Len(), s.Cap())
	states.Range(func(k, _ any) bool {
		e := k.(*balancer.Endpoint)
		assert.Zero(t, e.InFlight(), e.ID)
		return true
	})
	// At rest, every session Lookup reports is its key's and usable.
	for key := range uint64(512) {
		if e, ok := s.Lookup(key, clock.Load()); ok {
			assert.Equal(t, stickyID(key), e.ID)
			assert.True(t, e.Usable())
		}
	}
}
