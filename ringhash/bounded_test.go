package ringhash_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/ringhash"
)

// TestBoundedHotKey sends one hot key through a Balancer, never ending a
// request, and checks after every pick that no endpoint holds more than
// ceil(c × total × w_i / W), total counting the pick just made.
func TestBoundedHotKey(t *testing.T) {
	hot := balancer.KeyRequest("the hot key")
	for _, tc := range []struct {
		name string
		cfg  ringhash.Config
		set  []balancer.Backend
	}{
		{"native/1.25", ringhash.Config{BalanceFactor: 1.25}, lbtest.Backends(10)},
		{"native/1", ringhash.Config{BalanceFactor: 1}, lbtest.Backends(7)},
		{"native/2/weighted", ringhash.Config{BalanceFactor: 2}, lbtest.Weighted(1, 2, 3, 4, 1)},
		{"native/1.5/weighted", ringhash.Config{BalanceFactor: 1.5}, lbtest.Weighted(8, 1, 1, 2)},
		{"envoy/1.25", ringhash.Config{Compat: ringhash.Envoy, BalanceFactor: 1.25}, lbtest.Backends(10)},
		{"grpc/1.5", ringhash.Config{Compat: ringhash.GRPC, BalanceFactor: 1.5}, lbtest.Weighted(1, 1, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bal := balancer.New(tc.cfg)
			require.NoError(t, bal.Update(tc.set))
			eps := bal.Endpoints()
			var weights float64
			for _, e := range eps {
				weights += float64(e.Weight)
			}
			var results []balancer.Result
			for step := 1; step <= 500; step++ {
				req := hot
				req.Attempt = step % 3 / 2 // some retries too
				res, err := bal.Pick(req)
				require.NoError(t, err)
				results = append(results, res)
				for _, e := range eps {
					bound := math.Ceil(tc.cfg.BalanceFactor * float64(step) * float64(e.Weight) / weights)
					require.LessOrEqual(t, float64(e.InFlight()), bound, "step %d endpoint %s", step, e.ID)
				}
			}
			// The overflow spread the hot key over as many endpoints as the
			// bound requires.
			used, most := 0, 0.0
			for _, e := range eps {
				if e.InFlight() > 0 {
					used++
				}
				most = max(most, math.Ceil(tc.cfg.BalanceFactor*500*float64(e.Weight)/weights))
			}
			assert.GreaterOrEqual(t, float64(used), math.Ceil(500/most))
			assert.Greater(t, used, 1)
			for _, res := range results {
				res.Done(balancer.DoneInfo{})
			}
			total, ok := eps[0].TotalInFlight()
			assert.True(t, ok)
			assert.Zero(t, total)
		})
	}
}

// TestBoundedDeterministic: two proxies with the same set and the same
// load send the same overflow to the same endpoints.
func TestBoundedDeterministic(t *testing.T) {
	cfg := ringhash.Config{BalanceFactor: 1.25}
	a, b := balancer.New(cfg), balancer.New(cfg)
	require.NoError(t, a.Update(lbtest.Backends(20)))
	require.NoError(t, b.Update(lbtest.Backends(20)))
	for i, req := range lbtest.Requests(300, true) {
		if i%3 == 0 {
			req = balancer.KeyRequest("hot")
		}
		ra, err := a.Pick(req)
		require.NoError(t, err)
		rb, err := b.Pick(req)
		require.NoError(t, err)
		require.Equal(t, ra.Endpoint.ID, rb.Endpoint.ID, "pick %d", i)
	}
}

// TestBoundedKeepsAffinity: while there is room, bounded loads pick what the
// plain ring picks.
func TestBoundedKeepsAffinity(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(50))
	plain := lbtest.MustBuild(t, ringhash.Config{}, eps)
	bounded := lbtest.MustBuild(t, ringhash.Config{BalanceFactor: 1.25}, eps)
	for _, req := range lbtest.Requests(2000, true) {
		want, _ := plain.Pick(req)
		got, _ := bounded.Pick(req) // nothing in flight: every endpoint has room
		require.Same(t, want, got)
	}
}

// TestBoundedNoneEligible: when the counts disagree (here the total was
// lowered by ending requests of an endpoint that has left the set), no
// endpoint may have room; the pick then takes the least loaded one instead
// of looping.
func TestBoundedNoneEligible(t *testing.T) {
	bal := balancer.New(ringhash.Config{BalanceFactor: 1})
	require.NoError(t, bal.Update(lbtest.Backends(3)))
	gone := bal.Endpoints()[2]
	require.NoError(t, bal.Update(lbtest.Backends(2)))
	eps := bal.Endpoints()
	for range 10 {
		eps[0].Begin()
	}
	for range 5 {
		eps[1].Begin()
	}
	for range 15 {
		balancer.Result{Endpoint: gone}.Done(balancer.DoneInfo{})
	}
	total, _ := eps[0].TotalInFlight()
	require.Zero(t, total)
	for _, req := range lbtest.Requests(100, true) {
		e, err := bal.Picker().Pick(req)
		require.NoError(t, err)
		require.Same(t, eps[1], e)
	}
}

// TestBoundedWithoutTotal: endpoints made by NewEndpoint keep no total; the
// picker sums the endpoints' counts instead and still keeps the bound.
func TestBoundedWithoutTotal(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(4))
	p := lbtest.MustBuild(t, ringhash.Config{BalanceFactor: 1.5}, eps)
	hot := balancer.KeyRequest("hot")
	for step := 1; step <= 100; step++ {
		e, err := p.Pick(hot)
		require.NoError(t, err)
		e.Begin()
		for _, e := range eps {
			require.LessOrEqual(t, float64(e.InFlight()), math.Ceil(1.5*float64(step)/4))
		}
	}
}
