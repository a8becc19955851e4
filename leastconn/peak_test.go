package leastconn_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

// t0 is the start of the fake clock of these tests.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestPeakEWMASlowRecovers makes one of five endpoints slow and checks that
// it is avoided at once and recovers after the decay, on a fake clock.
//
// Every request takes 10 ms except the one that marks endpoint 0 slow
// (1 s) at t = 5 s. Its estimate then decays towards zero while it gets no
// traffic, e^(-t/10 s), and drops under the others' 10 ms after
// 10 s × ln 100 ≈ 46 s. Its first 10 ms sample then blends with the stored
// 1 s peak (balancer's EWMA weighs the stored value by the time since the
// last sample), which sets the estimate back to about 20 ms, and each
// further sample halves the excess: it takes its fair share (200 picks in
// 10 s) again about 2 minutes after t0, and holds it; we check the window
// from 170 s to 180 s for at least half of that share.
func TestPeakEWMASlowRecovers(t *testing.T) {
	for _, c := range []leastconn.Config{
		{PeakEWMA: true},
		{PeakEWMA: true, Choices: 2},
		{PeakEWMA: true, FullScan: true},
	} {
		c.Rand = balancer.NewSource(8)
		bal := balancer.New(c)
		require.NoError(t, bal.Update(lbtest.Backends(5)))
		eps := bal.Endpoints()
		now := t0
		// step sends one request at now that takes lat, and returns where
		// it went.
		step := func(lat func(*balancer.Endpoint) time.Duration) *balancer.Endpoint {
			res, err := bal.Pick(balancer.Request{Now: now.UnixNano()})
			require.NoError(t, err)
			res.Done(balancer.DoneInfo{Latency: lat(res.Endpoint), Now: now.Add(lat(res.Endpoint)).UnixNano()})
			now = now.Add(10 * time.Millisecond)
			return res.Endpoint
		}
		normal := func(*balancer.Endpoint) time.Duration { return 10 * time.Millisecond }
		// Warm up: every endpoint gets 10 ms samples.
		for range 500 {
			step(normal)
		}
		// Endpoint 0 answers one request in 1 s.
		res := eps[0].Begin()
		res.Done(balancer.DoneInfo{Latency: time.Second, Now: now.UnixNano()})
		slow := 0
		for range 1000 { // 10 s
			if step(normal) == eps[0] {
				slow++
			}
		}
		assert.Zero(t, slow, "%+v: the slow endpoint is avoided", c)

		for now.Before(t0.Add(170 * time.Second)) {
			step(normal)
		}
		slow = 0
		const window = 1000
		for range window {
			if step(normal) == eps[0] {
				slow++
			}
		}
		// A fair share is 200 of 1000; recovered means at least half of it.
		assert.Greater(t, slow, window/5/2, "%+v: the endpoint recovers after the decay", c)
		assert.Less(t, eps[0].Latency(now.UnixNano()), 20*time.Millisecond)
	}
}

// TestPeakEWMAFewerPicks checks that a slower endpoint gets fewer picks at
// zero load, in proportion to how often it is sampled with a faster one.
func TestPeakEWMAFewerPicks(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(4))
	for i, e := range eps {
		res := e.Begin()
		res.Done(balancer.DoneInfo{Latency: time.Duration(i+1) * 10 * time.Millisecond, Now: t0.UnixNano()})
	}
	p := lbtest.MustBuild(t, leastconn.Config{PeakEWMA: true, Rand: balancer.NewSource(2)}, eps)
	counts := lbtest.Count(t, p, 12_000, []balancer.Request{{Now: t0.UnixNano()}})
	// With two distinct choices of four, endpoint i wins the pairs with
	// the 3-i slower ones: shares 3/6, 2/6, 1/6, 0.
	for i, want := range []float64{6000, 4000, 2000, 0} {
		assert.InDelta(t, want, counts[eps[i].ID], 300, "endpoint %d", i)
	}
}

// TestPeakEWMAInFlight checks that the cost grows with requests in flight:
// an endpoint twice as fast holding two requests costs more than one
// holding none.
func TestPeakEWMAInFlight(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(2))
	for i, lat := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond} {
		res := eps[i].Begin()
		res.Done(balancer.DoneInfo{Latency: lat, Now: t0.UnixNano()})
	}
	p := lbtest.MustBuild(t, leastconn.Config{PeakEWMA: true}, eps)
	req := balancer.Request{Now: t0.UnixNano()}
	e, err := p.Pick(req)
	require.NoError(t, err)
	assert.Same(t, eps[0], e, "10 ms × 1 < 20 ms × 1")
	eps[0].Begin()
	eps[0].Begin()
	e, err = p.Pick(req)
	require.NoError(t, err)
	assert.Same(t, eps[1], e, "10 ms × 3 > 20 ms × 1")
}

// TestPeakEWMAWeights checks the cost per unit of weight: at zero load and
// equal latency the heavier candidate wins (the cost is Linkerd's
// latency×(in flight+1) divided by weight, IPVS's "sed" rule), and an
// endpoint without a sample costs DefaultLatency.
func TestPeakEWMAWeights(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(1, 4))
	p := lbtest.MustBuild(t, leastconn.Config{PeakEWMA: true}, eps)
	counts := lbtest.Count(t, p, 100, []balancer.Request{{Now: t0.UnixNano()}})
	assert.Equal(t, 100, counts[eps[1].ID])

	// 4 requests in flight on the weight-4 endpoint: 5/4 > 1/1.
	for range 4 {
		eps[1].Begin()
	}
	counts = lbtest.Count(t, p, 100, []balancer.Request{{Now: t0.UnixNano()}})
	assert.Equal(t, 100, counts[eps[0].ID])

	// No sample costs DefaultLatency: a 5 ms endpoint beats it, a 50 ms
	// one loses to it.
	for _, tc := range []struct {
		lat  time.Duration
		want int
	}{{5 * time.Millisecond, 0}, {50 * time.Millisecond, 1}} {
		eps := lbtest.Endpoints(lbtest.Backends(2))
		res := eps[0].Begin()
		res.Done(balancer.DoneInfo{Latency: tc.lat, Now: t0.UnixNano()})
		p := lbtest.MustBuild(t, leastconn.Config{PeakEWMA: true, DefaultLatency: 30 * time.Millisecond}, eps)
		e, err := p.Pick(balancer.Request{Now: t0.UnixNano()})
		require.NoError(t, err)
		assert.Same(t, eps[tc.want], e, "sample %v against the default", tc.lat)
	}
}
