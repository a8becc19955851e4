package maglev

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

func TestContract(t *testing.T) {
	t.Run("default", func(t *testing.T) { lbtest.Contract(t, Config{}) })
	t.Run("bounded", func(t *testing.T) { lbtest.Contract(t, Config{BalanceFactor: 1.25, TableSize: 1009}) })
	t.Run("seeded", func(t *testing.T) { lbtest.Contract(t, Config{TableSize: 1009, Rand: balancer.NewSource(1)}) })
}

// TestPickIsTableLookup: a hashed pick is table[h mod M], with Envoy's
// perturbation h ^= 2^64 - k for attempt k.
func TestPickIsTableLookup(t *testing.T) {
	for _, m := range []uint64{13, 65537} {
		p := build(t, Config{TableSize: m}, lbtest.Weighted(1, 2, 3, 4, 5))
		table := ids(t, p)
		for i, h := range lbtest.Hashes(2000, 9) {
			attempt := i % 4
			want := h
			if attempt > 0 {
				want ^= ^uint64(0) - uint64(attempt) + 1 // Envoy's expression
			}
			e, err := p.Pick(balancer.Request{Hash: h, HasHash: true, Attempt: attempt})
			require.NoError(t, err)
			require.Equal(t, table[want%m], e.ID, "h=%#x attempt=%d", h, attempt)
		}
		// Negative attempts count as the first.
		e, err := p.Pick(balancer.Request{Hash: 42, HasHash: true, Attempt: -3})
		require.NoError(t, err)
		assert.Equal(t, table[42%m], e.ID)
	}
}

// TestRetriesSpread: retries of one key mostly land elsewhere.
func TestRetriesSpread(t *testing.T) {
	p := build(t, Config{}, lbtest.Backends(10))
	same := 0
	const keys = 2000
	for _, h := range lbtest.Hashes(keys, 10) {
		first, _ := p.Pick(balancer.Request{Hash: h, HasHash: true})
		retry, _ := p.Pick(balancer.Request{Hash: h, HasHash: true, Attempt: 1})
		if first == retry {
			same++
		}
	}
	// Independent slots agree with probability 1/10; allow 1.5x.
	assert.Less(t, same, keys*15/100, "%d of %d retries hit the same endpoint", same, keys)
}

func TestMod(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	edges := []uint64{0, 1, 2, math.MaxUint64, math.MaxUint64 - 1, 1 << 63, (1 << 63) - 1}
	for _, m := range []uint64{2, 3, 5, 13, 65537, 655373, MaxTableSize} {
		p := &picker{m: m, recip: ^uint64(0) / m}
		for _, h := range edges {
			require.Equal(t, h%m, p.mod(h), "h=%d m=%d", h, m)
			require.Equal(t, (h-h%m)%m, p.mod(h-h%m), "h=%d m=%d", h, m)
		}
		for range 100_000 {
			h := r.Uint64()
			require.Equal(t, h%m, p.mod(h), "h=%d m=%d", h, m)
		}
	}
}

// TestUnhashedPicks: without a hash, picks follow a seeded Source and
// spread over the table. Chi-square over 10 equal endpoints, 9 degrees of
// freedom, alpha = 0.001: critical value 27.88.
func TestUnhashedPicks(t *testing.T) {
	const n, picks = 10, 20_000
	pickAll := func() []string {
		p := build(t, Config{Rand: balancer.NewSource(7)}, lbtest.Backends(n))
		out := make([]string, picks)
		for i := range out {
			e, err := p.Pick(balancer.Request{})
			require.NoError(t, err)
			out[i] = e.ID
		}
		return out
	}
	a, b := pickAll(), pickAll()
	require.Equal(t, a, b, "the same seed gives the same picks")
	counts := map[string]int{}
	for _, id := range a {
		counts[id]++
	}
	require.Len(t, counts, n)
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - picks/n
		chi2 += d * d / (picks / n)
	}
	assert.Less(t, chi2, 27.88)

	// The default Source also works and allocates nothing.
	p := build(t, Config{}, lbtest.Backends(n))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = p.Pick(balancer.Request{Attempt: 1}) }))
}

func TestTableBytes(t *testing.T) {
	p := lbtest.MustBuild(t, Config{}, lbtest.Endpoints(lbtest.Backends(100)))
	ts, ok := p.(balancer.TableSizer)
	require.True(t, ok)
	// Envoy's compact table is 67.8 kB at 100 hosts; ours is 2 bytes a slot.
	assert.Equal(t, 2*65537+8*100, ts.TableBytes())
}
