package random_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/random"
)

// alpha is the significance level of every chi-square test here: a correct
// picker fails one with probability 0.001 for a given seed. The seeds are
// fixed, so the tests are deterministic.
const alpha = 0.001

func TestContract(t *testing.T) {
	lbtest.Contract(t, random.Config{})
	t.Run("seeded", func(t *testing.T) { lbtest.Contract(t, random.Config{Rand: balancer.NewSource(1)}) })
}

func TestBuildInvalid(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(3))
	for name, set := range map[string][]*balancer.Endpoint{
		"nil":       {eps[0], nil},
		"duplicate": {eps[0], eps[1], eps[0]},
		"zero":      {eps[0], {}},
	} {
		_, err := random.Config{}.Build(set)
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, balancer.ErrInvalidBackend), name)
		assert.Contains(t, err.Error(), "random: ", name)
	}
}

// chiSquare returns Pearson's statistic of counts against the expected
// shares ws (any scale) and the critical value at alpha.
func chiSquare(t *testing.T, eps []*balancer.Endpoint, counts map[string]int, ws []float64) (stat, critical float64) {
	t.Helper()
	var total, wsum float64
	for _, e := range eps {
		total += float64(counts[e.ID])
	}
	for _, w := range ws {
		wsum += w
	}
	for i, e := range eps {
		want := total * ws[i] / wsum
		d := float64(counts[e.ID]) - want
		stat += d * d / want
	}
	df := float64(len(eps) - 1)
	return stat, distuv.ChiSquared{K: df}.Quantile(1 - alpha)
}

func TestUniformChiSquare(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(50))
	p := lbtest.MustBuild(t, random.Config{Rand: balancer.NewSource(7)}, eps)
	counts := lbtest.Count(t, p, 500_000, nil)
	ws := make([]float64, len(eps))
	for i := range ws {
		ws[i] = 1
	}
	stat, crit := chiSquare(t, eps, counts, ws)
	assert.Less(t, stat, crit, "uniform picks: chi-square %.1f above the alpha=%v critical value %.1f", stat, alpha, crit)
}

func TestWeightedChiSquare(t *testing.T) {
	raw := []uint32{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 1, 1000}
	eps := lbtest.Endpoints(lbtest.Weighted(raw...))
	p := lbtest.MustBuild(t, random.Config{Rand: balancer.NewSource(11)}, eps)
	counts := lbtest.Count(t, p, 500_000, nil)
	ws := make([]float64, len(raw))
	for i, w := range raw {
		ws[i] = float64(w)
	}
	stat, crit := chiSquare(t, eps, counts, ws)
	assert.Less(t, stat, crit, "weighted picks: chi-square %.1f above the alpha=%v critical value %.1f", stat, alpha, crit)

	// The test has power: the same counts are far from uniform.
	uni := make([]float64, len(raw))
	for i := range uni {
		uni[i] = 1
	}
	stat, crit = chiSquare(t, eps, counts, uni)
	assert.Greater(t, stat, crit, "the chi-square test cannot tell weighted from uniform")
}

func TestExtremeWeights(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(math.MaxUint32, 1, math.MaxUint32))
	p := lbtest.MustBuild(t, random.Config{Rand: balancer.NewSource(3)}, eps)
	counts := lbtest.Count(t, p, 100_000, nil)
	// The light endpoint has probability 1/(2^33-1): expect no pick.
	assert.Zero(t, counts[eps[1].ID])
	assert.InDelta(t, 50_000, counts[eps[0].ID], 1000)
}

func TestIgnoresRequest(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(1, 2, 3))
	for _, c := range []random.Config{{Rand: balancer.NewSource(5)}} {
		a := lbtest.MustBuild(t, c, eps)
		seqA := make([]string, 100)
		for i := range seqA {
			e, err := a.Pick(balancer.Request{})
			require.NoError(t, err)
			seqA[i] = e.ID
		}
		b := lbtest.MustBuild(t, random.Config{Rand: balancer.NewSource(5)}, eps)
		for i := range seqA {
			e, err := b.Pick(balancer.Request{Hash: uint64(i) * 0x9e3779b97f4a7c15, HasHash: true, Attempt: i})
			require.NoError(t, err)
			assert.Equal(t, seqA[i], e.ID, "pick %d depends on the request", i)
		}
	}
}

func FuzzBuild(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255}, uint64(1))
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(9))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		ws := make([]uint32, min(len(data)/4, 256))
		for i := range ws {
			b := data[4*i:]
			ws[i] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		}
		eps := lbtest.Endpoints(lbtest.Weighted(ws...))
		p, err := random.Config{Rand: balancer.NewSource(seed)}.Build(eps)
		require.NoError(t, err)
		in := map[*balancer.Endpoint]bool{}
		for _, e := range eps {
			in[e] = true
		}
		for range 20 {
			e, err := p.Pick(balancer.Request{})
			if len(eps) == 0 {
				require.ErrorIs(t, err, balancer.ErrNoEndpoints)
				continue
			}
			require.NoError(t, err)
			require.True(t, in[e])
		}
	})
}
