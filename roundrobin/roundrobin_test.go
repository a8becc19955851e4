package roundrobin_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/roundrobin"
)

func TestContract(t *testing.T) { lbtest.Contract(t, roundrobin.Config{}) }

func TestContractSeeded(t *testing.T) {
	lbtest.Contract(t, roundrobin.Config{Rand: balancer.NewSource(7)})
}

// indexOf maps each endpoint to its position in eps.
func indexOf(eps []*balancer.Endpoint) map[*balancer.Endpoint]int {
	m := make(map[*balancer.Endpoint]int, len(eps))
	for i, e := range eps {
		m[e] = i
	}
	return m
}

// picks returns the indices in eps of n sequential picks from p.
func picks(t *testing.T, p balancer.Picker, eps []*balancer.Endpoint, n int) []int {
	t.Helper()
	idx := indexOf(eps)
	out := make([]int, n)
	for i := range out {
		e, err := p.Pick(balancer.Request{})
		require.NoError(t, err)
		j, ok := idx[e]
		require.True(t, ok, "pick %d is not a member", i)
		out[i] = j
	}
	return out
}

func TestExactlyEvenInOrder(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 1000} {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			eps := lbtest.Endpoints(lbtest.Backends(n))
			p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(uint64(n))}, eps)
			const k = 5
			seq := picks(t, p, eps, k*n)
			counts := make([]int, n)
			for i, j := range seq {
				counts[j]++
				if i > 0 {
					require.Equal(t, (seq[i-1]+1)%n, j, "pick %d does not follow pick %d in endpoint order", i, i-1)
				}
			}
			for j, c := range counts {
				require.Equal(t, k, c, "endpoint %d", j)
			}
		})
	}
}

func TestRandomStart(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(10))
	first := map[int]int{}
	for seed := range uint64(100) {
		p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(seed)}, eps)
		first[picks(t, p, eps, 1)[0]]++

		again := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(seed)}, eps)
		assert.Equal(t, picks(t, lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(seed)}, eps), eps, 20),
			picks(t, again, eps, 20), "seed %d: the same seed gives the same sequence", seed)
	}
	// Uniform over 10 endpoints, 100 seeds leave fewer than 8 endpoints
	// never picked first with probability below 1e-9.
	assert.GreaterOrEqual(t, len(first), 8, "first picks over 100 seeds: %v", first)

	// The nil Rand also starts at random.
	nilFirst := map[int]bool{}
	for range 100 {
		nilFirst[picks(t, lbtest.MustBuild(t, roundrobin.Config{}, eps), eps, 1)[0]] = true
	}
	assert.GreaterOrEqual(t, len(nilFirst), 8)
}

// share checks that seq, whose length is a whole number of cycles of the
// weights ws, gives each endpoint exactly its share.
func share(t *testing.T, seq []int, ws []uint32) {
	t.Helper()
	var total uint64
	for _, w := range ws {
		total += uint64(w)
	}
	require.Zero(t, uint64(len(seq))%total)
	counts := make([]uint64, len(ws))
	for _, j := range seq {
		counts[j]++
	}
	cycles := uint64(len(seq)) / total
	for j, w := range ws {
		assert.Equal(t, uint64(w)*cycles, counts[j], "endpoint %d of weights %v", j, ws)
	}
}

// longestRun returns the longest run of index j in seq.
func longestRun(seq []int, j int) int {
	best, run := 0, 0
	for _, x := range seq {
		if x == j {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

func TestWeightedExact(t *testing.T) {
	for _, ws := range [][]uint32{{5, 1, 1}, {3, 7, 2, 9}, {1, 2}, {10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 3, 5, 7, 11, 13}} {
		var total int
		for _, w := range ws {
			total += int(w)
		}
		for seed := range uint64(5) {
			eps := lbtest.Endpoints(lbtest.Weighted(ws...))
			p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(seed)}, eps)
			seq := picks(t, p, eps, 40*total)
			share(t, seq[:total], ws)        // one cycle
			share(t, seq[total:3*total], ws) // two more
			share(t, seq, ws)                // forty
		}
	}
}

func TestFiveOneOneRuns(t *testing.T) {
	for seed := range uint64(20) {
		eps := lbtest.Endpoints(lbtest.Weighted(5, 1, 1))
		p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(seed)}, eps)
		// Three cycles from a random start cross the cycle's end at least
		// twice, so a run across the wrap would show.
		seq := picks(t, p, eps, 21)
		assert.Equal(t, 3, longestRun(seq, 0), "seed %d: %v", seed, seq)
		assert.Equal(t, 1, longestRun(seq, 1))
		assert.Equal(t, 1, longestRun(seq, 2))
	}
}

func TestGCDReduction(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(100, 50))
	p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(1)}, eps)
	seq := picks(t, p, eps, 30)
	share(t, seq[:3], []uint32{2, 1}) // a cycle of 3, not of 150
	for i := 3; i < len(seq); i++ {
		assert.Equal(t, seq[i-3], seq[i], "the sequence repeats every 3 picks")
	}
}

func TestExtremeWeights(t *testing.T) {
	for _, ws := range [][]uint32{
		{math.MaxUint32, 1},
		{1, math.MaxUint32, 1},
		{math.MaxUint32, math.MaxUint32 - 1, 1, 2, 3},
		{math.MaxUint32, math.MaxUint32 / 2, math.MaxUint32 / 3},
	} {
		eps := lbtest.Endpoints(lbtest.Weighted(ws...))
		begin := time.Now()
		p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(3)}, eps)
		assert.Less(t, time.Since(begin), time.Second, "weights %v build slowly", ws)
		// Over 200,000 picks (a few capped cycles) the shares match the
		// weights to within the scaling rounding: about n/65,536.
		const n = 200_000
		seq := picks(t, p, eps, n)
		counts := make([]float64, len(ws))
		for _, j := range seq {
			counts[j]++
		}
		var total float64
		for _, w := range ws {
			total += float64(w)
		}
		for j, w := range ws {
			want := float64(w) / total
			assert.InDelta(t, want, counts[j]/n, 1e-3, "weights %v endpoint %d", ws, j)
			assert.Positive(t, counts[j], "weights %v: endpoint %d is never picked", ws, j)
		}
	}
}

func TestExtremeWeightsManyEndpoints(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	ws := make([]uint32, 10_000)
	for i := range ws {
		ws[i] = r.Uint32() | 1
	}
	eps := lbtest.Endpoints(lbtest.Weighted(ws...))
	begin := time.Now()
	lbtest.MustBuild(t, roundrobin.Config{}, eps)
	assert.Less(t, time.Since(begin), 2*time.Second)
}

func TestEqualWeightsAnyValue(t *testing.T) {
	// Equal weights other than 1 are plain round robin too.
	eps := lbtest.Endpoints(lbtest.Weighted(7, 7, 7, 7))
	p := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(2)}, eps)
	seq := picks(t, p, eps, 12)
	for i := 1; i < len(seq); i++ {
		assert.Equal(t, (seq[i-1]+1)%4, seq[i])
	}
}

func TestErrors(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(3))
	eps[1] = nil
	_, err := roundrobin.Config{}.Build(eps)
	require.ErrorIs(t, err, balancer.ErrInvalidBackend)
	assert.Contains(t, err.Error(), "roundrobin: ")

	for _, size := range []int{-1, roundrobin.MaxTableLimit + 1} {
		_, err = roundrobin.Config{MaxTableSize: size}.Build(lbtest.Endpoints(lbtest.Backends(2)))
		require.ErrorIs(t, err, roundrobin.ErrInvalidConfig)
		assert.Contains(t, err.Error(), "roundrobin: ")
	}

	p, err := roundrobin.Config{}.Build(nil)
	require.NoError(t, err)
	_, err = p.Pick(balancer.Request{})
	assert.True(t, errors.Is(err, balancer.ErrNoEndpoints))
}

func TestRequestIgnored(t *testing.T) {
	// Hash and Attempt do not change the walk.
	eps := lbtest.Endpoints(lbtest.Weighted(3, 1, 2))
	a := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(5)}, eps)
	b := lbtest.MustBuild(t, roundrobin.Config{Rand: balancer.NewSource(5)}, eps)
	for i, req := range lbtest.Requests(60, true) {
		req.Attempt = i % 3
		x, err := a.Pick(req)
		require.NoError(t, err)
		y, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		require.Same(t, y, x, "pick %d", i)
	}
}
