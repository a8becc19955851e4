package maglev

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// ceilDiv returns ceil(a / b) for positive integers.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// TestBoundHotKey sends every request with one key and never ends any:
// after each pick, the endpoint picked holds at most
// ceil(c × T × w_i / W) requests, T counting the new one (exact integer
// arithmetic: c = num/den).
func TestBoundHotKey(t *testing.T) {
	cases := []struct {
		num, den int64
		ws       []uint32
	}{
		{5, 4, []uint32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{3, 2, []uint32{1, 2, 3, 4}},
		{1, 1, []uint32{1, 1, 1}},
		{2, 1, []uint32{5, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("c=%d/%d/w=%v", c.num, c.den, c.ws), func(t *testing.T) {
			bal := balancer.New(Config{BalanceFactor: float64(c.num) / float64(c.den)})
			require.NoError(t, bal.Update(lbtest.Weighted(c.ws...)))
			var sumW int64
			for _, w := range c.ws {
				sumW += int64(w)
			}
			req := balancer.KeyRequest("hot")
			var results []balancer.Result
			for total := int64(1); total <= 2000; total++ {
				res, err := bal.Pick(req)
				require.NoError(t, err)
				results = append(results, res)
				e := res.Endpoint
				bound := max(ceilDiv(c.num*total*int64(e.Weight), c.den*sumW), 1)
				require.LessOrEqual(t, e.InFlight(), bound, "pick %d to %s", total, e.ID)
				got, ok := e.TotalInFlight()
				require.True(t, ok)
				require.Equal(t, total, got)
			}
			for _, e := range bal.Endpoints() {
				bound := ceilDiv(c.num*2000*int64(e.Weight), c.den*sumW)
				assert.LessOrEqual(t, e.InFlight(), bound, e.ID)
				if c.num == c.den {
					// The capacities add up to T exactly: all are used.
					assert.Positive(t, e.InFlight(), "%s took none of the overflow", e.ID)
				}
			}
			for _, r := range results {
				r.Done(balancer.DoneInfo{})
			}
		})
	}
}

// TestBoundWithoutBalancer: endpoints from NewEndpoint have no running
// total, so the picker sums their counts, and the bound still holds.
func TestBoundWithoutBalancer(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(8))
	p := lbtest.MustBuild(t, Config{BalanceFactor: 1.25}, eps)
	for total := int64(1); total <= 400; total++ {
		e, err := p.Pick(balancer.KeyRequest("hot"))
		require.NoError(t, err)
		e.Begin()
		require.LessOrEqual(t, e.InFlight(), ceilDiv(5*total, 4*8))
	}
}

// TestBoundDeterministic: the same sequence of picks on the same set gives
// the same endpoints (the overflow order is a function of the hash).
func TestBoundDeterministic(t *testing.T) {
	run := func() []string {
		bal := balancer.New(Config{BalanceFactor: 1.1})
		require.NoError(t, bal.Update(lbtest.Backends(20)))
		var out []string
		for i, h := range lbtest.Hashes(500, 3) {
			req := balancer.Request{Hash: h % 3, HasHash: true, Attempt: i % 2}
			res, err := bal.Pick(req)
			require.NoError(t, err)
			out = append(out, res.Endpoint.ID)
			if i%5 == 0 {
				res.Done(balancer.DoneInfo{})
			}
		}
		return out
	}
	assert.Equal(t, run(), run())
}

// TestBoundUnloaded: with nothing in flight, a bounded picker picks as the
// plain table does.
func TestBoundUnloaded(t *testing.T) {
	bs := lbtest.Weighted(1, 2, 3, 4)
	plain := build(t, Config{}, bs)
	bounded := build(t, Config{BalanceFactor: 1.25}, bs)
	for _, h := range lbtest.Hashes(1000, 4) {
		req := balancer.Request{Hash: h, HasHash: true}
		a, _ := plain.Pick(req)
		b, _ := bounded.Pick(req)
		require.Equal(t, a.ID, b.ID)
	}
}

// TestProbeNoneEligible: when no endpoint is below its capacity, the probe
// visits each once and takes the least loaded relative to its capacity.
func TestProbeNoneEligible(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(1, 1, 2, 1, 1))
	p := lbtest.MustBuild(t, Config{BalanceFactor: 1.5}, eps).(*picker)
	loads := []int{5, 4, 6, 9, 7} // in the picker's (ID) order
	for i, e := range p.eps {
		for range loads[i] {
			e.Begin()
		}
	}
	// limit 1: capacities are ceil(w_i / 6) = 1, so loads/capacity are the
	// loads, and endpoint 1 (load 4) is the least loaded.
	for first := range p.eps {
		for _, h := range lbtest.Hashes(50, uint64(first)) {
			assert.Equal(t, 1, p.bound.probe(p.eps, first, h, 1))
		}
	}
	// limit 18: capacities 3, 3, 6, 3, 3; endpoint 2 holds 6 of 6 (ratio 1),
	// the others more than 1: endpoint 2.
	assert.Equal(t, 2, p.bound.probe(p.eps, 0, 99, 18))
	assert.Zero(t, testing.AllocsPerRun(100, func() { p.bound.probe(p.eps, 0, 99, 1) }))
}

// TestProbeOrder: each stride is coprime with N, so a probe sequence is a
// permutation of the endpoints.
func TestProbeOrder(t *testing.T) {
	for n := 1; n <= 200; n++ {
		ss := strides(n)
		require.NotEmpty(t, ss)
		for _, s := range ss {
			seen := make([]bool, n)
			k := uint64(n / 2)
			for range n {
				require.False(t, seen[k], "n=%d stride %d repeats", n, s)
				seen[k] = true
				k = (k + uint64(s)) % uint64(n)
			}
		}
		coprime := 0
		for s := 1; s < n; s++ {
			if gcd(uint64(s), uint64(n)) == 1 {
				coprime++
			}
		}
		if n > 2 {
			assert.Len(t, ss, min(coprime, maxStrides), "n=%d", n)
		}
	}
}

// TestBoundAllocs: the overflow path allocates nothing.
func TestBoundAllocs(t *testing.T) {
	bal := balancer.New(Config{BalanceFactor: 1.25})
	require.NoError(t, bal.Update(lbtest.Backends(100)))
	req := balancer.KeyRequest("hot")
	for range 1000 {
		_, err := bal.Pick(req) // left in flight, so the hot endpoint is full
		require.NoError(t, err)
	}
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		res, _ := bal.Pick(req)
		res.Done(balancer.DoneInfo{})
	}))
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		res, _ := bal.Pick(balancer.Request{})
		res.Done(balancer.DoneInfo{})
	}))
}
