package affinity_test

import (
	"flag"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/roundrobin"
)

var stickyT0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()

func newSticky(t testing.TB, cfg affinity.StickyConfig) *affinity.Sticky {
	t.Helper()
	s, err := affinity.NewSticky(cfg)
	require.NoError(t, err)
	return s
}

// rrBalancer returns a round-robin Balancer over n backends, whose picks
// cycle through them in order from a seeded start.
func rrBalancer(t testing.TB, n int) *balancer.Balancer {
	t.Helper()
	b := balancer.New(roundrobin.Config{Rand: balancer.NewSource(1)})
	require.NoError(t, b.Update(cookieBackends(n)))
	return b
}

// stickyPick picks for key at now and ends the request.
func stickyPick(t *testing.T, s *affinity.Sticky, b *balancer.Balancer, key uint64, now int64) (*balancer.Endpoint, bool) {
	t.Helper()
	res, hit, err := s.Pick(b, key, balancer.Request{}, now)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Endpoint.InFlight(), "counted in flight")
	res.Done(balancer.DoneInfo{})
	return res.Endpoint, hit
}

// without returns the backends of b's set other than e's.
func without(b *balancer.Balancer, e *balancer.Endpoint) []balancer.Backend {
	var bs []balancer.Backend
	for _, x := range b.Endpoints() {
		if x.ID != e.ID {
			bs = append(bs, x.Backend)
		}
	}
	return bs
}

func TestStickyFirstPickThenSticks(t *testing.T) {
	b := rrBalancer(t, 5)
	s := newSticky(t, affinity.StickyConfig{})
	first := map[uint64]string{}
	seen := map[string]bool{}
	for key := range uint64(5) {
		e, hit := stickyPick(t, s, b, key, stickyT0)
		assert.False(t, hit, "a new key goes through the Balancer")
		first[key] = e.ID
		seen[e.ID] = true
	}
	assert.Len(t, seen, 5, "five new keys took five round-robin turns")
	for i := range 100 {
		key := uint64(i % 5)
		e, hit := stickyPick(t, s, b, key, stickyT0+int64(i)*int64(time.Second))
		require.True(t, hit)
		require.Equal(t, first[key], e.ID)
		got, ok := s.Lookup(key, stickyT0+int64(i)*int64(time.Second))
		require.True(t, ok)
		require.Equal(t, first[key], got.ID)
		require.Zero(t, got.InFlight(), "Lookup counts nothing in flight")
	}
	assert.Equal(t, 5, s.Len())
	_, ok := s.Lookup(99, stickyT0)
	assert.False(t, ok)
}

// Keys 0 and 2^64-1 are keys like any other: 0 is not taken for empty.
func TestStickyExtremeKeys(t *testing.T) {
	b := rrBalancer(t, 3)
	s := newSticky(t, affinity.StickyConfig{MaxEntries: 1})
	_, ok := s.Lookup(0, stickyT0)
	assert.False(t, ok, "an empty table has no session for key 0")
	e0, _ := stickyPick(t, s, b, 0, stickyT0)
	e1, _ := stickyPick(t, s, b, ^uint64(0), stickyT0)
	require.NotEqual(t, e0.ID, e1.ID)
	for range 3 {
		got, hit := stickyPick(t, s, b, 0, stickyT0)
		assert.True(t, hit)
		assert.Equal(t, e0.ID, got.ID)
		got, hit = stickyPick(t, s, b, ^uint64(0), stickyT0)
		assert.True(t, hit)
		assert.Equal(t, e1.ID, got.ID)
	}
}

func TestStickyTimeout(t *testing.T) {
	const timeout = time.Minute
	prec := int64(timeout / 1024) // the documented precision
	t.Run("idle", func(t *testing.T) {
		b := rrBalancer(t, 5)
		s := newSticky(t, affinity.StickyConfig{Timeout: timeout})
		stickyPick(t, s, b, 7, stickyT0)
		_, ok := s.Lookup(7, stickyT0+int64(timeout)+prec)
		assert.True(t, ok, "live for Timeout plus its precision after its last use")
		s.Forget(7)
		e, _ := stickyPick(t, s, b, 7, stickyT0)
		_, ok = s.Lookup(7, stickyT0+int64(timeout)+prec+1)
		assert.False(t, ok, "expired")
		moved, hit := stickyPick(t, s, b, 7, stickyT0+int64(timeout)+prec+1)
		assert.False(t, hit, "an expired session picks again")
		assert.NotEqual(t, e.ID, moved.ID, "round robin moved on")
		assert.Equal(t, 1, s.Len(), "the entry was replaced")
		got, hit := stickyPick(t, s, b, 7, stickyT0+int64(timeout)+prec+2)
		assert.True(t, hit)
		assert.Equal(t, moved.ID, got.ID)
	})
	t.Run("use refreshes", func(t *testing.T) {
		b := rrBalancer(t, 5)
		s := newSticky(t, affinity.StickyConfig{Timeout: timeout})
		e, _ := stickyPick(t, s, b, 7, stickyT0)
		now := stickyT0
		for range 10 { // ten uses half a timeout apart: five timeouts in all
			now += int64(timeout / 2)
			got, hit := stickyPick(t, s, b, 7, now)
			require.True(t, hit)
			require.Equal(t, e.ID, got.ID)
		}
		_, ok := s.Lookup(7, now+int64(timeout))
		assert.True(t, ok, "Lookup refreshes too")
		now += int64(timeout)
		_, ok = s.Lookup(7, now+int64(timeout)+prec+1)
		assert.False(t, ok)
	})
	t.Run("precision", func(t *testing.T) {
		b := rrBalancer(t, 5)
		s := newSticky(t, affinity.StickyConfig{Timeout: timeout})
		stickyPick(t, s, b, 7, stickyT0)
		// A use within the precision of the last stored one is not
		// stored: the session ends Timeout plus precision after the
		// stored one, which is at least Timeout after the real one.
		_, hit := stickyPick(t, s, b, 7, stickyT0+prec)
		require.True(t, hit)
		_, ok := s.Lookup(7, stickyT0+prec+int64(timeout))
		assert.True(t, ok, "at least Timeout after the last use")
		_, ok = s.Lookup(7, stickyT0+prec+int64(timeout)+1)
		assert.True(t, ok, "that Lookup was a use, and stored")
	})
	t.Run("clock read", func(t *testing.T) {
		b := rrBalancer(t, 5)
		s := newSticky(t, affinity.StickyConfig{Timeout: time.Hour})
		e, _ := stickyPick(t, s, b, 7, 0)
		got, ok := s.Lookup(7, 0)
		require.True(t, ok, "zero means time.Now()")
		assert.Equal(t, e.ID, got.ID)
		_, ok = s.Lookup(7, time.Now().Add(2*time.Hour).UnixNano())
		assert.False(t, ok)
	})
}

func TestStickyEndpointLeaves(t *testing.T) {
	b := rrBalancer(t, 5)
	s := newSticky(t, affinity.StickyConfig{})
	e, _ := stickyPick(t, s, b, 42, stickyT0)
	require.NoError(t, b.Update(without(b, e)))
	_, ok := s.Lookup(42, stickyT0)
	assert.False(t, ok, "the endpoint left the set")
	moved, hit := stickyPick(t, s, b, 42, stickyT0)
	assert.False(t, hit)
	assert.NotEqual(t, e.ID, moved.ID)
	assert.Equal(t, 1, s.Len(), "the entry was replaced, not added")
	for range 10 {
		got, hit := stickyPick(t, s, b, 42, stickyT0)
		require.True(t, hit)
		require.Equal(t, moved.ID, got.ID)
	}
	// The first endpoint's ID comes back: as a new Endpoint, and the
	// session stays where it moved.
	require.NoError(t, b.Update(cookieBackends(5)))
	got, hit := stickyPick(t, s, b, 42, stickyT0)
	assert.True(t, hit)
	assert.Equal(t, moved.ID, got.ID)
}

func TestStickyUnhealthy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sick, fix func(e *balancer.Endpoint)
	}{
		{"down", func(e *balancer.Endpoint) { e.SetDown(true, stickyT0) }, func(e *balancer.Endpoint) { e.SetDown(false, stickyT0) }},
		{"ejected", func(e *balancer.Endpoint) { e.Eject(stickyT0 + int64(time.Minute)) }, func(e *balancer.Endpoint) { e.Uneject(stickyT0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := rrBalancer(t, 5)
			s := newSticky(t, affinity.StickyConfig{})
			e, _ := stickyPick(t, s, b, 42, stickyT0)
			// Unusable for a while, then back before the key's next
			// request: the session was never replaced and goes on.
			tc.sick(e)
			_, ok := s.Lookup(42, stickyT0)
			assert.False(t, ok)
			tc.fix(e)
			got, hit := stickyPick(t, s, b, 42, stickyT0)
			assert.True(t, hit)
			assert.Equal(t, e.ID, got.ID)
			// Unusable at the key's next request: it picks again, and
			// the session stays with the new endpoint.
			tc.sick(e)
			moved, hit := stickyPick(t, s, b, 42, stickyT0)
			assert.False(t, hit)
			assert.NotEqual(t, e.ID, moved.ID)
			tc.fix(e)
			got, hit = stickyPick(t, s, b, 42, stickyT0)
			assert.True(t, hit)
			assert.Equal(t, moved.ID, got.ID)
			assert.Equal(t, 1, s.Len())
		})
	}
}

func TestStickyForget(t *testing.T) {
	b := rrBalancer(t, 5)
	s := newSticky(t, affinity.StickyConfig{})
	e, _ := stickyPick(t, s, b, 42, stickyT0)
	stickyPick(t, s, b, 43, stickyT0)
	s.Forget(42)
	s.Forget(42)
	s.Forget(1000)
	assert.Equal(t, 1, s.Len())
	_, ok := s.Lookup(42, stickyT0)
	assert.False(t, ok)
	got, hit := stickyPick(t, s, b, 42, stickyT0)
	assert.False(t, hit)
	assert.NotEqual(t, e.ID, got.ID)
}

// Pin moves a session to the endpoint a retry found, or starts one.
func TestStickyPin(t *testing.T) {
	b := rrBalancer(t, 5)
	s := newSticky(t, affinity.StickyConfig{})
	e, _ := stickyPick(t, s, b, 42, stickyT0)
	var other *balancer.Endpoint
	for _, x := range b.Endpoints() {
		if x.ID != e.ID {
			other = x
			break
		}
	}
	s.Pin(42, other, stickyT0+1)
	got, hit := stickyPick(t, s, b, 42, stickyT0+2)
	assert.True(t, hit)
	assert.Equal(t, other.ID, got.ID)
	assert.Equal(t, 1, s.Len())

	s.Pin(7, e, stickyT0)
	got, hit = stickyPick(t, s, b, 7, stickyT0+3)
	assert.True(t, hit)
	assert.Equal(t, e.ID, got.ID)
	assert.Equal(t, 2, s.Len())
	s.Pin(8, nil, stickyT0)
	assert.Equal(t, 2, s.Len(), "a nil endpoint pins nothing")
}

// A retry goes through the Balancer and leaves the session alone.
func TestStickyRetry(t *testing.T) {
	b := rrBalancer(t, 5)
	s := newSticky(t, affinity.StickyConfig{})
	e, _ := stickyPick(t, s, b, 42, stickyT0)
	res, hit, err := s.Pick(b, 42, balancer.Request{Attempt: 1}, stickyT0)
	require.NoError(t, err)
	res.Done(balancer.DoneInfo{})
	assert.False(t, hit)
	assert.NotEqual(t, e.ID, res.Endpoint.ID)
	got, hit := stickyPick(t, s, b, 42, stickyT0)
	assert.True(t, hit)
	assert.Equal(t, e.ID, got.ID)
}

// An error from the Balancer is Pick's, and changes no session.
func TestStickyNoEndpoints(t *testing.T) {
	b := rrBalancer(t, 2)
	s := newSticky(t, affinity.StickyConfig{})
	e, _ := stickyPick(t, s, b, 42, stickyT0)
	require.NoError(t, b.Update(nil))
	_, _, err := s.Pick(b, 42, balancer.Request{}, stickyT0)
	assert.ErrorIs(t, err, balancer.ErrNoEndpoints)
	_, _, err = s.Pick(b, 43, balancer.Request{}, stickyT0)
	assert.ErrorIs(t, err, balancer.ErrNoEndpoints)
	assert.Equal(t, 1, s.Len())
	require.NoError(t, b.Update([]balancer.Backend{e.Backend}))
	got, hit := stickyPick(t, s, b, 42, stickyT0)
	assert.False(t, hit, "the old Endpoint left for good")
	assert.Equal(t, e.ID, got.ID)
}

// Concurrent first requests of a key all land where the first did.
func TestStickyConcurrentFirstPicks(t *testing.T) {
	b := rrBalancer(t, 8)
	s := newSticky(t, affinity.StickyConfig{})
	for key := range uint64(50) {
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for g := range ids {
			wg.Go(func() {
				res, _, err := s.Pick(b, key, balancer.Request{}, stickyT0)
				if err == nil {
					ids[g] = res.Endpoint.ID
					res.Done(balancer.DoneInfo{})
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			require.Equal(t, ids[0], id, "key %d", key)
		}
	}
}

func TestStickyConfig(t *testing.T) {
	s := newSticky(t, affinity.StickyConfig{})
	assert.Equal(t, 10800*time.Second, s.Timeout())
	assert.GreaterOrEqual(t, s.Cap(), affinity.DefaultStickyEntries)
	assert.Less(t, s.Cap(), affinity.DefaultStickyEntries+7*64)
	for _, n := range []int{1, 2, 7, 8, 100, 1000, 12345} {
		s := newSticky(t, affinity.StickyConfig{MaxEntries: n, Timeout: 100 * 24 * time.Hour})
		assert.GreaterOrEqual(t, s.Cap(), n)
		assert.Less(t, s.Cap(), n+7*64, "n=%d", n)
	}
	for _, cfg := range []affinity.StickyConfig{
		{Timeout: -time.Nanosecond},
		{MaxEntries: -1},
		{MaxEntries: affinity.MaxStickyEntries + 1},
		{MaxEntries: 1 << 62},
	} {
		_, err := affinity.NewSticky(cfg)
		require.ErrorIs(t, err, affinity.ErrStickyConfig, "%+v", cfg)
		assert.True(t, strings.HasPrefix(err.Error(), "affinity: "), err.Error())
	}
}

// The table never holds more than Cap sessions, however many keys come.
func TestStickyBounded(t *testing.T) {
	b := rrBalancer(t, 5)
	s := newSticky(t, affinity.StickyConfig{MaxEntries: 100})
	for key := range uint64(10_000) {
		stickyPick(t, s, b, key, stickyT0+int64(key))
		require.LessOrEqual(t, s.Len(), s.Cap())
		_, ok := s.Lookup(key, stickyT0+int64(key))
		require.True(t, ok, "the newest session is there")
	}
	assert.Equal(t, s.Cap(), s.Len(), "full")
	assert.Equal(t, uint64(10_000-s.Cap()), s.Evictions())
	live := 0
	for key := range uint64(10_000) {
		if _, ok := s.Lookup(key, stickyT0+10_000); ok {
			live++
		}
	}
	assert.Equal(t, s.Cap(), live)
	// Once they all expire, new sessions take their slots: nothing live
	// is evicted.
	later := stickyT0 + int64(4*time.Hour)
	ev := s.Evictions()
	for key := range uint64(s.Cap() / 2) {
		stickyPick(t, s, b, 1<<40+key, later)
	}
	assert.Equal(t, ev, s.Evictions())
	assert.LessOrEqual(t, s.Len(), s.Cap())
}

// stickyEntries is the table size of TestStickyEarlyEviction. The figures
// in the doc were measured with -sticky.entries=1048576.
var stickyEntries = flag.Int("sticky.entries", 1<<14, "MaxEntries of TestStickyEarlyEviction")

// Filled with random or sequential keys to a fraction of MaxEntries, the
// table loses few sessions to evictions in buckets that filled early: the
// documented figures, with margin.
func TestStickyEarlyEviction(t *testing.T) {
	size := *stickyEntries
	b := rrBalancer(t, 5)
	for _, tc := range []struct {
		fill float64
		max  float64
	}{{0.5, 0.0001}, {0.8, 0.004}, {0.9, 0.02}, {1.0, 0.06}} {
		for _, seq := range []bool{false, true} {
			s := newSticky(t, affinity.StickyConfig{MaxEntries: size})
			r := rand.New(rand.NewPCG(uint64(tc.fill*100), 7))
			n := int(tc.fill * float64(size))
			keys := make([]uint64, n)
			for i := range keys {
				keys[i] = r.Uint64()
				if seq {
					keys[i] = uint64(i)
				}
				res, _, err := s.Pick(b, keys[i], balancer.Request{}, stickyT0)
				require.NoError(t, err)
				res.Done(balancer.DoneInfo{})
			}
			lost := 0
			for _, k := range keys {
				if _, ok := s.Lookup(k, stickyT0); !ok {
					lost++
				}
			}
			frac := float64(lost) / float64(n)
			t.Logf("MaxEntries %d filled to %3.0f%% with %s keys: %.4f%% evicted early", size, tc.fill*100, map[bool]string{false: "random", true: "sequential"}[seq], 100*frac)
			assert.LessOrEqual(t, frac, tc.max, "fill %v sequential %v", tc.fill, seq)
			assert.Equal(t, uint64(lost), s.Evictions())
			assert.Equal(t, n-lost, s.Len())
		}
	}
}

// A table of a million sessions takes under 100 bytes a session (27.4
// by design), allocated whole by NewSticky: sessions allocate nothing (a
// sixteenth of them is enough to show it, and quick under -race).
func TestStickyMemory(t *testing.T) {
	const n = 1 << 20
	b := rrBalancer(t, 100)
	var before, made, filled runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newSticky(t, affinity.StickyConfig{MaxEntries: n})
	runtime.GC()
	runtime.ReadMemStats(&made)
	for key := range uint64(n / 16) {
		res, _, err := s.Pick(b, key*0x9e3779b97f4a7c15, balancer.Request{}, stickyT0)
		require.NoError(t, err)
		res.Done(balancer.DoneInfo{})
	}
	runtime.GC()
	runtime.ReadMemStats(&filled)
	perEntry := float64(int64(filled.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("MaxEntries %d: Cap %d, %d bytes after NewSticky, %d after %d sessions: %.1f bytes a session",
		n, s.Cap(), int64(made.HeapAlloc)-int64(before.HeapAlloc), int64(filled.HeapAlloc)-int64(before.HeapAlloc), s.Len(), perEntry)
	assert.Less(t, perEntry, 100.0)
	assert.Less(t, int64(filled.HeapAlloc)-int64(made.HeapAlloc), int64(n/16), "sessions allocate nothing (GC noise aside)")
	assert.Equal(t, n/16, s.Len())
	runtime.KeepAlive(s)
}

func TestStickyAllocs(t *testing.T) {
	b := rrBalancer(t, 100)
	s := newSticky(t, affinity.StickyConfig{MaxEntries: 1000})
	for key := range uint64(64) {
		stickyPick(t, s, b, key, stickyT0)
	}
	key, now := uint64(0), stickyT0
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		key = (key + 1) % 64
		now += int64(time.Second) // a refresh each time
		if _, ok := s.Lookup(key, now); !ok {
			panic("miss")
		}
	}), "Lookup hit")
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		key = (key + 1) % 64
		res, hit, err := s.Pick(b, key, balancer.Request{}, now)
		if err != nil || !hit {
			panic("miss")
		}
		res.Done(balancer.DoneInfo{})
	}), "Pick hit")
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		key++
		res, _, err := s.Pick(b, 1000+key, balancer.Request{}, 0)
		if err != nil {
			panic(err)
		}
		res.Done(balancer.DoneInfo{})
	}), "Pick of new keys, evicting")
}
