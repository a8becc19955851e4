package leastconn_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

// gap returns max and min in flight over eps minus the mean.
func gap(eps []*balancer.Endpoint) (above, below float64) {
	var sum, hi, lo int64
	lo = eps[0].InFlight()
	for _, e := range eps {
		n := e.InFlight()
		sum += n
		hi, lo = max(hi, n), min(lo, n)
	}
	mean := float64(sum) / float64(len(eps))
	return float64(hi) - mean, mean - float64(lo)
}

// fill picks m requests through a Balancer over n endpoints without ending
// any, and returns the endpoints.
func fill(t *testing.T, c leastconn.Config, bs []balancer.Backend, m int) []*balancer.Endpoint {
	t.Helper()
	bal := balancer.New(c)
	require.NoError(t, bal.Update(bs))
	for range m {
		_, err := bal.Pick(balancer.Request{})
		require.NoError(t, err)
	}
	return bal.Endpoints()
}

// TestSpread checks the power of d choices against uniform random picking
// with n = 100 endpoints and m = 10,000 requests in flight (mean 100).
//
// Random picking leaves the busiest endpoint about √(2(m/n) ln n) ≈ 30
// above the mean (Gaussian tail over 100 endpoints, σ ≈ 10); we require at
// least 15, which a 100-endpoint maximum falls under with probability well
// below 1e-3. Two choices leave a gap of ln ln n / ln 2 + O(1) ≈ 2-4
// independent of m (Berenbrink et al. 2000); we allow 6, and require it to
// be at most a quarter of the random gap. More choices can only do better.
func TestSpread(t *testing.T) {
	const n, m = 100, 10_000
	for seed := range uint64(5) {
		eps := lbtest.Endpoints(lbtest.Backends(n))
		r := rand.New(rand.NewPCG(seed, 99))
		for range m {
			eps[r.IntN(n)].Begin()
		}
		randomGap, _ := gap(eps)
		assert.GreaterOrEqual(t, randomGap, 15.0, "seed %d: random baseline", seed)

		for _, d := range []int{2, 3, 10} {
			c := leastconn.Config{Choices: d, Rand: balancer.NewSource(seed)}
			above, below := gap(fill(t, c, lbtest.Backends(n), m))
			t.Logf("seed %d d=%d: max-mean %.0f, mean-min %.0f (random: max-mean %.0f)", seed, d, above, below, randomGap)
			assert.LessOrEqual(t, above, 6.0, "seed %d d=%d: max-mean", seed, d)
			assert.LessOrEqual(t, above, randomGap/4, "seed %d d=%d: against random", seed, d)
			// The lightly loaded tail is longer than the heavy one but
			// still far from random's (also about 30).
			assert.LessOrEqual(t, below, 8.0, "seed %d d=%d: mean-min", seed, d)
		}
		above, below := gap(fill(t, leastconn.Config{FullScan: true, Rand: balancer.NewSource(seed)}, lbtest.Backends(n), m))
		assert.Equal(t, 0.0, above, "full scan keeps the load exactly even")
		assert.Equal(t, 0.0, below, "full scan keeps the load exactly even")
	}
}

// TestDistinct checks that the candidates of a pick are distinct: with d
// choices among d+1 endpoints, the single busiest endpoint always meets a
// less loaded one and is never picked (sampling with replacement would pick
// it with probability (1/(d+1))^d). With 2 endpoints and d = 2, the less
// loaded one is always chosen.
func TestDistinct(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		for d := 2; d <= leastconn.MaxChoices; d++ {
			for _, peak := range []bool{false, true} {
				name := fmt.Sprintf("d=%d weighted=%v peak=%v", d, weighted, peak)
				bs := lbtest.Backends(d + 1)
				if weighted {
					for i := range bs {
						bs[i].Weight = uint32(1 + i%3)
					}
					bs[0].Weight = 1 // the busy one below has load 5 per weight
				}
				eps := lbtest.Endpoints(bs)
				for range 5 {
					eps[0].Begin()
				}
				c := leastconn.Config{Choices: d, PeakEWMA: peak, Rand: balancer.NewSource(uint64(d))}
				counts := lbtest.Count(t, lbtest.MustBuild(t, c, eps), 3000, nil)
				assert.Zero(t, counts[eps[0].ID], name)
			}
		}
	}

	bal := balancer.New(leastconn.Config{Rand: balancer.NewSource(1)})
	require.NoError(t, bal.Update(lbtest.Backends(2)))
	eps := bal.Endpoints()
	for i := range 1000 {
		res, err := bal.Pick(balancer.Request{})
		require.NoError(t, err)
		a, b := eps[0].InFlight(), eps[1].InFlight()
		require.LessOrEqual(t, max(a, b)-min(a, b), int64(1), "pick %d: loads %d and %d", i, a, b)
		if i%3 == 0 {
			res.Done(balancer.DoneInfo{})
		}
	}
}
