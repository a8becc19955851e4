package balancer_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// cycle is a minimal Builder for testing the Balancer itself: it cycles
// through the endpoints with an atomic cursor.
type cycle struct {
	fail  error         // Build returns it when set
	decay time.Duration // LatencyDecay returns it
	total bool          // TrackTotalInFlight returns it
}

func (c cycle) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if c.fail != nil {
		return nil, c.fail
	}
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	if err := balancer.Validate(eps); err != nil {
		return nil, err
	}
	return &cyclePicker{eps: eps, next: make(chan int, 1)}, nil
}

func (c cycle) LatencyDecay() time.Duration { return c.decay }
func (c cycle) TrackTotalInFlight() bool    { return c.total }

type cyclePicker struct {
	eps  []*balancer.Endpoint
	next chan int // a one-slot semaphore holding the cursor; tests only
}

func (p *cyclePicker) Pick(balancer.Request) (*balancer.Endpoint, error) {
	i := 0
	select {
	case i = <-p.next:
	default:
	}
	e := p.eps[i%len(p.eps)]
	select {
	case p.next <- i + 1:
	default:
	}
	return e, nil
}

func ids(eps []*balancer.Endpoint) []string {
	if len(eps) == 0 {
		return nil
	}
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.ID
	}
	return out
}

func TestBalancerEmpty(t *testing.T) {
	b := balancer.New(cycle{})
	_, err := b.Pick(balancer.Request{})
	require.ErrorIs(t, err, balancer.ErrNoEndpoints)
	require.NoError(t, b.Update(lbtest.Backends(2)))
	require.NoError(t, b.Update(nil))
	_, err = b.Pick(balancer.Request{})
	require.ErrorIs(t, err, balancer.ErrNoEndpoints)
	assert.Empty(t, b.Endpoints())
	_, err = b.Picker().Pick(balancer.Request{})
	require.ErrorIs(t, err, balancer.ErrNoEndpoints)
}

func TestBalancerDefaults(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update([]balancer.Backend{{ID: "a"}, {ID: "b", Addr: "10.0.0.2:80", Weight: 7, Zone: "z1"}}))
	eps := b.Endpoints()
	assert.Equal(t, balancer.Backend{ID: "a", Addr: "a", Weight: 1}, eps[0].Backend)
	assert.Equal(t, balancer.Backend{ID: "b", Addr: "10.0.0.2:80", Weight: 7, Zone: "z1"}, eps[1].Backend)
	assert.Equal(t, uint32(1), balancer.NewEndpoint(balancer.Backend{ID: "x"}).Weight)
}

func TestUpdateKeepsCounters(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(3)))
	before := b.Endpoints()
	var held []balancer.Result
	for range 6 {
		r, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		held = append(held, r)
	}
	for _, e := range before {
		require.Equal(t, int64(2), e.InFlight())
	}

	// Drop endpoint 0, reweight endpoint 1, keep endpoint 2, add a new one.
	next := lbtest.Backends(4)[1:]
	next[0].Weight = 9
	require.NoError(t, b.Update(next))
	after := b.Endpoints()
	require.Equal(t, ids(after), []string{lbtest.Addr(1), lbtest.Addr(2), lbtest.Addr(3)})
	assert.NotSame(t, before[1], after[0], "a reweighted endpoint is a new value")
	assert.Equal(t, uint32(9), after[0].Weight)
	assert.Equal(t, int64(2), after[0].InFlight(), "counters survive a weight change")
	assert.Same(t, before[2], after[1], "an unchanged endpoint is kept as is")
	assert.Equal(t, int64(0), after[2].InFlight())

	// Requests picked before the update end normally, on every version.
	for _, r := range held {
		r.Done(balancer.DoneInfo{})
	}
	for _, e := range append(before, after...) {
		assert.Equal(t, int64(0), e.InFlight(), e.ID)
	}
	assert.Equal(t, uint64(2), after[0].Completed())
	assert.Equal(t, uint64(2), before[0].Completed(), "a removed endpoint still counts its requests")

	// An ID that left and comes back starts afresh.
	require.NoError(t, b.Update(lbtest.Backends(4)))
	assert.Equal(t, uint64(0), b.Endpoints()[0].Completed())
}

func TestUpdateRejectsBadInputAndKeepsServing(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(2)))
	want := ids(b.Endpoints())
	cases := map[string][]balancer.Backend{
		"empty ID":     {{ID: "a"}, {ID: ""}},
		"duplicate ID": {{ID: "a"}, {ID: "b"}, {ID: "a", Weight: 3}},
	}
	for name, bs := range cases {
		t.Run(name, func(t *testing.T) {
			err := b.Update(bs)
			require.ErrorIs(t, err, balancer.ErrInvalidBackend)
			assert.Contains(t, err.Error(), "balancer: invalid backend: backend ")
			assert.Equal(t, want, ids(b.Endpoints()))
			r, err := b.Pick(balancer.Request{})
			require.NoError(t, err)
			assert.Contains(t, want, r.Endpoint.ID)
			r.Done(balancer.DoneInfo{})
		})
	}
	t.Run("builder error", func(t *testing.T) {
		boom := errors.New("boom")
		b := balancer.New(cycle{})
		require.NoError(t, b.Update(lbtest.Backends(2)))
		good := b.Endpoints()
		b2 := balancer.New(cycle{fail: boom})
		err := b2.Update(lbtest.Backends(2))
		require.ErrorIs(t, err, boom)
		assert.EqualError(t, err, "balancer: update: boom")
		assert.Len(t, good, 2)
		_, err = b2.Pick(balancer.Request{})
		require.ErrorIs(t, err, balancer.ErrNoEndpoints)
	})
	t.Run("duplicate message", func(t *testing.T) {
		err := b.Update([]balancer.Backend{{ID: "a"}, {ID: "b"}, {ID: "a"}})
		assert.EqualError(t, err, `balancer: invalid backend: backend 2 has the same ID "a" as backend 0`)
	})
}

func TestDoneAccounting(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(1)))
	e := b.Endpoints()[0]
	fail := errors.New("503")
	for i := range 10 {
		r, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		require.Equal(t, int64(1), e.InFlight())
		if i%5 == 0 {
			r.Done(balancer.DoneInfo{Err: fail})
		} else {
			r.Done(balancer.DoneInfo{})
		}
	}
	assert.Equal(t, int64(0), e.InFlight())
	assert.Equal(t, uint64(10), e.Completed())
	assert.Equal(t, uint64(2), e.Failures())
	assert.Equal(t, uint64(8), e.Successes())

	balancer.Result{}.Done(balancer.DoneInfo{Err: fail, Latency: time.Second}) // no-op, no panic

	// Many requests in flight at once stay in their own field.
	var rs []balancer.Result
	for range 100_000 {
		rs = append(rs, e.Begin())
	}
	assert.Equal(t, int64(100_000), e.InFlight())
	assert.Equal(t, uint64(10), e.Completed())
	for _, r := range rs {
		r.Done(balancer.DoneInfo{})
	}
	assert.Equal(t, int64(0), e.InFlight())
	assert.Equal(t, uint64(100_010), e.Completed())
}

func TestPeakEWMA(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := balancer.New(cycle{decay: time.Second})
	require.NoError(t, b.Update(lbtest.Backends(1)))
	e := b.Endpoints()[0]
	assert.Equal(t, time.Duration(0), e.Latency(t0.UnixNano()), "no sample yet")

	done := func(lat time.Duration, at time.Time) {
		r, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		r.Done(balancer.DoneInfo{Latency: lat, Now: at.UnixNano()})
	}
	done(10*time.Millisecond, t0)
	assert.Equal(t, 10*time.Millisecond, e.Latency(t0.UnixNano()))

	// A slower sample is taken at once (the peak).
	done(50*time.Millisecond, t0)
	assert.Equal(t, 50*time.Millisecond, e.Latency(t0.UnixNano()))

	// A faster sample one time constant later moves the estimate by 1-1/e.
	t1 := t0.Add(time.Second)
	done(10*time.Millisecond, t1)
	want := 50e6/2.718281828459045 + 10e6*(1-1/2.718281828459045)
	assert.InDelta(t, want, float64(e.Latency(t1.UnixNano())), 1e3)

	// Without samples the estimate decays towards zero.
	assert.InDelta(t, want/2.718281828459045, float64(e.Latency(t1.Add(time.Second).UnixNano())), 1e3)
	assert.Equal(t, e.Latency(t1.UnixNano()), e.Latency(t1.Add(-time.Hour).UnixNano()), "time going backwards does not grow it")

	// A Balancer whose Builder says nothing uses the default decay.
	b2 := balancer.New(cycle{})
	require.NoError(t, b2.Update(lbtest.Backends(1)))
	r, _ := b2.Pick(balancer.Request{})
	r.Done(balancer.DoneInfo{Latency: 100 * time.Millisecond, Now: t0.UnixNano()})
	got := b2.Endpoints()[0].Latency(t0.Add(balancer.DefaultLatencyDecay).UnixNano())
	assert.InDelta(t, 100e6/2.718281828459045, float64(got), 1e3)
}

func TestTotalInFlight(t *testing.T) {
	plain := balancer.New(cycle{})
	require.NoError(t, plain.Update(lbtest.Backends(2)))
	_, ok := plain.Endpoints()[0].TotalInFlight()
	assert.False(t, ok)

	b := balancer.New(cycle{total: true})
	require.NoError(t, b.Update(lbtest.Backends(3)))
	var rs []balancer.Result
	for range 7 {
		r, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		rs = append(rs, r)
	}
	n, ok := b.Endpoints()[2].TotalInFlight()
	require.True(t, ok)
	assert.Equal(t, int64(7), n)
	require.NoError(t, b.Update(lbtest.Backends(1)))
	n, _ = b.Endpoints()[0].TotalInFlight()
	assert.Equal(t, int64(7), n, "requests to removed endpoints are still in flight")
	for _, r := range rs {
		r.Done(balancer.DoneInfo{})
	}
	n, _ = b.Endpoints()[0].TotalInFlight()
	assert.Equal(t, int64(0), n)
}

func TestValidate(t *testing.T) {
	require.NoError(t, balancer.Validate(nil))
	require.NoError(t, balancer.Validate(lbtest.Endpoints(lbtest.Backends(3))))
	for _, eps := range [][]*balancer.Endpoint{
		{balancer.NewEndpoint(balancer.Backend{ID: "a"}), nil},
		{{Backend: balancer.Backend{ID: "a"}}},
		{balancer.NewEndpoint(balancer.Backend{})},
		lbtest.Endpoints([]balancer.Backend{{ID: "a"}, {ID: "a"}}),
	} {
		require.ErrorIs(t, balancer.Validate(eps), balancer.ErrInvalidBackend)
	}
}

func TestNewSource(t *testing.T) {
	a, b := balancer.NewSource(7), balancer.NewSource(7)
	c := balancer.NewSource(8)
	same := 0
	for range 1000 {
		x, y, z := a.Uint64(), b.Uint64(), c.Uint64()
		require.Equal(t, x, y)
		if x == z {
			same++
		}
	}
	assert.Zero(t, same)
	// It plugs into math/rand/v2 and is uniform enough for a quick check.
	r := rand.New(balancer.NewSource(1))
	var buckets [10]int
	for range 100_000 {
		buckets[r.IntN(10)]++
	}
	for i, n := range buckets {
		assert.InDelta(t, 10_000, n, 500, "bucket %d", i)
	}
}

func TestHash(t *testing.T) {
	// Golden values of XXH64 with seed 0.
	assert.Equal(t, uint64(0xef46db3751d8e999), balancer.HashString(""))
	assert.Equal(t, uint64(0xd24ec4f1a98c6e5b), balancer.HashString("a"))
	assert.Equal(t, balancer.HashString("user-42"), balancer.HashBytes([]byte("user-42")))
	assert.Equal(t, balancer.Request{Hash: balancer.HashString("k"), HasHash: true}, balancer.KeyRequest("k"))
}

func TestZeroAllocs(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(4)))
	now := time.Unix(1_700_000_000, 0)
	fail := errors.New("x")
	for name, d := range map[string]balancer.DoneInfo{
		"plain":   {},
		"failure": {Err: fail},
		"latency": {Latency: time.Millisecond, Now: now.UnixNano()},
		"clock":   {Latency: time.Millisecond},
	} {
		allocs := testing.AllocsPerRun(1000, func() {
			r, _ := b.Pick(balancer.Request{})
			r.Done(d)
		})
		assert.Zero(t, allocs, name)
	}
}

func TestRace(t *testing.T) { lbtest.Race(t, cycle{}) }

func TestRaceTotal(t *testing.T) { lbtest.Race(t, cycle{total: true}) }

func FuzzUpdate(f *testing.F) {
	f.Add([]byte("a\x00b\x01c"), []byte("a\x00c"))
	f.Add([]byte("a\x00a"), []byte(""))
	f.Add([]byte("\x00\x00"), []byte("x\x05y\xffz"))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		b := balancer.New(cycle{})
		prev := []string(nil)
		for _, raw := range [][]byte{first, second} {
			bs := backendsFrom(raw)
			err := b.Update(bs)
			got := ids(b.Endpoints())
			if err != nil {
				require.ErrorIs(t, err, balancer.ErrInvalidBackend)
				require.Equal(t, prev, got, "a failed update keeps the previous set")
			} else {
				var want []string
				for _, bk := range bs {
					want = append(want, bk.ID)
				}
				require.Equal(t, want, got)
				prev = got
			}
			if len(prev) == 0 {
				_, err := b.Pick(balancer.Request{})
				require.ErrorIs(t, err, balancer.ErrNoEndpoints)
				continue
			}
			r, err := b.Pick(balancer.Request{})
			require.NoError(t, err)
			require.Contains(t, prev, r.Endpoint.ID)
			r.Done(balancer.DoneInfo{})
		}
	})
}

// backendsFrom splits raw at bytes below 0x08 into IDs; the separator byte
// becomes the weight of the backend that follows.
func backendsFrom(raw []byte) []balancer.Backend {
	var bs []balancer.Backend
	start, w := 0, uint32(0)
	for i := 0; i <= len(raw); i++ {
		if i == len(raw) || raw[i] < 0x08 {
			if i > start || i < len(raw) {
				bs = append(bs, balancer.Backend{ID: string(raw[start:i]), Weight: w})
			}
			if i < len(raw) {
				w = uint32(raw[i]) * 1000
			}
			start = i + 1
		}
	}
	return bs
}

func BenchmarkUpdate(b *testing.B) {
	for _, n := range lbtest.Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bal := balancer.New(cycle{})
			sets := [][]balancer.Backend{lbtest.Backends(n), lbtest.Backends(n + 1)[1:]}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := bal.Update(sets[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fixed is a Builder whose Picker always returns the first endpoint, so
// BenchmarkOverhead measures the Balancer's own cost.
type fixed struct{}

func (fixed) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	return fixedPicker{eps[0]}, nil
}

type fixedPicker struct{ e *balancer.Endpoint }

func (p fixedPicker) Pick(balancer.Request) (*balancer.Endpoint, error) { return p.e, nil }

// BenchmarkOverhead compares a bare Picker.Pick with Balancer.Pick plus
// Result.Done on the same trivial Picker: the difference is what the
// Balancer's accounting costs a request.
func BenchmarkOverhead(b *testing.B) {
	bal := balancer.New(fixed{})
	if err := bal.Update(lbtest.Backends(10)); err != nil {
		b.Fatal(err)
	}
	p := bal.Picker()
	b.Run("op=pick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = p.Pick(balancer.Request{})
		}
	})
	b.Run("op=pick+done", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, _ := bal.Pick(balancer.Request{})
			r.Done(balancer.DoneInfo{})
		}
	})
	now := time.Unix(1_700_000_000, 0)
	b.Run("op=pick+done-latency", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, _ := bal.Pick(balancer.Request{})
			r.Done(balancer.DoneInfo{Latency: time.Millisecond, Now: now.UnixNano()})
		}
	})
}
