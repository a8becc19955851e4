package leastconn_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

// alpha is the significance level of every chi-square test here: a correct
// picker fails one with probability 0.001 for a given seed. The seeds are
// fixed, so the tests are deterministic.
const alpha = 0.001

// chiSquare returns Pearson's statistic of the picks counts against shares
// proportional to ws, and the critical value at alpha.
func chiSquare(eps []*balancer.Endpoint, counts map[string]int, ws []float64) (stat, critical float64) {
	var total, wsum float64
	for i, e := range eps {
		total += float64(counts[e.ID])
		wsum += ws[i]
	}
	for i, e := range eps {
		want := total * ws[i] / wsum
		d := float64(counts[e.ID]) - want
		stat += d * d / want
	}
	return stat, distuv.ChiSquared{K: float64(len(eps) - 1)}.Quantile(1 - alpha)
}

// TestZeroLoadProportional checks that at zero load every mode picks in
// proportion to weight (uniformly for equal weights): the first candidate
// is drawn by weight and wins every tie, and a full scan breaks ties by
// weight. PeakEWMA with unequal weights is the exception, by design: its
// cost latency×(in flight+1)/weight favours the heavier candidate even at
// zero load (see TestPeakEWMAWeights).
func TestZeroLoadProportional(t *testing.T) {
	sets := map[string][]uint32{
		"equal":    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		"weighted": {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 1, 1, 40, 7},
	}
	seed := uint64(0)
	for name, c := range modes {
		for set, raw := range sets {
			seed++
			if c.PeakEWMA && set == "weighted" {
				continue
			}
			eps := lbtest.Endpoints(lbtest.Weighted(raw...))
			c.Rand = balancer.NewSource(seed)
			counts := lbtest.Count(t, lbtest.MustBuild(t, c, eps), 100_000, nil)
			ws := make([]float64, len(raw))
			for i, w := range raw {
				ws[i] = float64(w)
			}
			stat, crit := chiSquare(eps, counts, ws)
			assert.Less(t, stat, crit, "%s/%s: chi-square %.1f above the alpha=%v critical value %.1f", name, set, stat, alpha, crit)
		}
	}
}

// TestWeightedLoadEvens checks that under load in flight per unit of
// weight evens out. Weights 1 to 20 (total 210) with 21,000 requests in
// flight give a mean of 100 per unit of weight. With d choices the heavy
// tail stays within a few requests; the check allows each endpoint's load
// per weight within 100 ± 8 (weighted random picking would leave the
// weight-1 endpoint at 100 ± 10 for one standard deviation alone).
func TestWeightedLoadEvens(t *testing.T) {
	raw := make([]uint32, 20)
	for i := range raw {
		raw[i] = uint32(i + 1)
	}
	for _, c := range []leastconn.Config{{}, {Choices: 3}, {Choices: 10}, {FullScan: true}} {
		name := fmt.Sprintf("%+v", c)
		c.Rand = balancer.NewSource(17)
		eps := fill(t, c, lbtest.Weighted(raw...), 21_000)
		for _, e := range eps {
			perWeight := float64(e.InFlight()) / float64(e.Weight)
			assert.InDelta(t, 100, perWeight, 8, "%s: %s (weight %d) holds %d", name, e.ID, e.Weight, e.InFlight())
		}
		if c.FullScan {
			// Exact: every endpoint at exactly 100 per unit of weight.
			for _, e := range eps {
				assert.Equal(t, int64(100)*int64(e.Weight), e.InFlight(), name)
			}
		}
	}
}

// TestExtremeWeights checks that a weight of 2^32-1 next to weights of 1
// neither spins nor breaks the comparison, in every mode.
func TestExtremeWeights(t *testing.T) {
	for name, c := range modes {
		c.Rand = balancer.NewSource(1)
		bal := balancer.New(c)
		require.NoError(t, bal.Update(lbtest.Weighted(math.MaxUint32, 1, 1, math.MaxUint32, 1)))
		counts := map[string]int{}
		for range 2000 {
			res, err := bal.Pick(balancer.Request{})
			require.NoError(t, err, name)
			counts[res.Endpoint.ID]++
		}
		// The light endpoints hold one request each at most before any
		// of the heavy ones is worth less.
		eps := bal.Endpoints()
		for _, i := range []int{1, 2, 4} {
			assert.LessOrEqual(t, eps[i].InFlight(), int64(1), "%s: light endpoint %d", name, i)
		}
	}
}
