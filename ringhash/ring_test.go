package ringhash

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// TestCompareEntriesTies sorts entries whose hashes collide, which XXH64
// never produces in practice, and checks that the order follows the IDs
// and replicas, not the order of the endpoints.
func TestCompareEntriesTies(t *testing.T) {
	eps := endpointsWithIDs("b", "a", "c")
	entries := []entry{
		{hash: 7, owner: 2, replica: 0}, {hash: 5, owner: 0, replica: 1},
		{hash: 5, owner: 1, replica: 3}, {hash: 5, owner: 0, replica: 0},
		{hash: 1, owner: 2, replica: 1}, {hash: 5, owner: 1, replica: 2},
	}
	want := []entry{
		{hash: 1, owner: 2, replica: 1},
		{hash: 5, owner: 1, replica: 2}, {hash: 5, owner: 1, replica: 3}, // "a"
		{hash: 5, owner: 0, replica: 0}, {hash: 5, owner: 0, replica: 1}, // "b"
		{hash: 7, owner: 2, replica: 0},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		r.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
		got := slices.Clone(entries)
		slices.SortFunc(got, compareEntries(eps))
		require.Equal(t, want, got)
	}
	// The radix sort agrees with the comparison sort, ties included.
	big := make([]entry, 5000)
	for i := range big {
		big[i] = entry{hash: r.Uint64N(3000) << 50, owner: uint32(r.IntN(3)), replica: uint32(i)}
	}
	want = slices.Clone(big)
	slices.SortFunc(want, compareEntries(eps))
	sortEntries(big, eps)
	require.Equal(t, want, big)
}

// TestIndexSearch checks the bucket index against a binary search over the
// whole ring, on edge hashes and random ones.
func TestIndexSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{1, 2, 3, 7, 100, 1000, 65537} {
		hashes := make([]uint64, size)
		for i := range hashes {
			hashes[i] = r.Uint64()
		}
		if size > 3 {
			hashes[1] = hashes[0] // a tie
			hashes[2] = math.MaxUint64
		}
		slices.Sort(hashes)
		x := newIndex(hashes)
		probes := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 1}
		for _, h := range hashes {
			probes = append(probes, h, h-1, h+1)
		}
		for range 1000 {
			probes = append(probes, r.Uint64())
		}
		for _, h := range probes {
			want := sort.Search(size, func(i int) bool { return hashes[i] >= h })
			if want == size {
				want = 0
			}
			require.Equal(t, want, x.search(hashes, h), "size %d hash %d", size, h)
		}
	}
}

// distinctWalk is the obvious retry order: the endpoints in the order a walk
// from entry q meets them.
func distinctWalk(r *ring, q int) []uint32 {
	var order []uint32
	for i := range len(r.hashes) {
		o := r.owners[(q+i)%len(r.hashes)]
		if !slices.Contains(order, o) {
			order = append(order, o)
		}
	}
	return order
}

func TestRetryDistinct(t *testing.T) {
	for _, cfg := range []Config{{Replicas: 3}, {}, {Compat: GRPC}} {
		eps := lbtest.Endpoints(lbtest.Weighted(1, 5, 2, 1, 1, 3, 1))
		p := mustPicker(t, cfg, eps)
		require.Equal(t, len(eps), p.ring.distinct)
		for _, h := range lbtest.Hashes(300, 5) {
			q := p.index.search(p.ring.hashes, h)
			order := distinctWalk(p.ring, q)
			require.Len(t, order, len(eps))
			for k := range 3 * len(eps) {
				require.Same(t, eps[order[k%len(eps)]], pickHash(t, p, h, k), "hash %d attempt %d", h, k)
			}
		}
		// Huge attempt numbers wrap and return at once.
		_, err := p.Pick(balancer.Request{Hash: 1, HasHash: true, Attempt: math.MaxInt})
		require.NoError(t, err)
	}
}

// TestDistinctSkipsEmptyEndpoints: with a capped Envoy scale an endpoint of
// tiny weight may get no entry; retries then cycle over those that have.
func TestDistinctSkipsEmptyEndpoints(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(1000, 1000, 1))
	p := mustPicker(t, Config{Compat: GRPC, MinRingSize: 8, MaxRingSize: 8}, eps)
	assert.Equal(t, 2, p.ring.distinct)
	seen := map[*balancer.Endpoint]bool{}
	for k := range 10 {
		seen[pickHash(t, p, 12345, k)] = true
	}
	assert.Len(t, seen, 2)
}

// TestNativeCounts checks the native layout's replica counts: fixed per unit
// of the smallest weight, independent of the rest of the set.
func TestNativeCounts(t *testing.T) {
	s := settings{replicas: 100, max: DefaultNativeMaxRingSize}
	assert.Equal(t, []uint32{100, 100, 100}, s.nativeCounts(lbtest.Endpoints(lbtest.Backends(3))))
	assert.Equal(t, []uint32{100, 250, 300}, s.nativeCounts(lbtest.Endpoints(lbtest.Weighted(2, 5, 6))))
	assert.Equal(t, []uint32{100, 100}, s.nativeCounts(lbtest.Endpoints(lbtest.Weighted(7, 7))))
	// Above the maximum every count scales down, keeping at least one.
	s.max = 1000
	assert.Equal(t, []uint32{90, 909}, s.nativeCounts(lbtest.Endpoints(lbtest.Weighted(1, 10))))
	assert.Equal(t, []uint32{1, 999}, s.nativeCounts(lbtest.Endpoints(lbtest.Weighted(1, math.MaxUint32))))
	// Below the minimum every count scales up.
	s.min = 1000
	assert.Equal(t, []uint32{500, 500}, s.nativeCounts(lbtest.Endpoints(lbtest.Backends(2))))
}

// TestExtremeWeights: weights 1 and 4294967295 build quickly into a ring no
// larger than the maximum plus one entry per endpoint, in every layout.
func TestExtremeWeights(t *testing.T) {
	for _, cfg := range []Config{{}, {Compat: GRPC}, {Compat: Envoy, MaxRingSize: 1 << 16}, {MaxRingSize: 5000}} {
		for _, ws := range [][]uint32{{math.MaxUint32, 1}, {1, math.MaxUint32, 1, 2}, {math.MaxUint32 / 4, math.MaxUint32 / 4, 1}} {
			if cfg.Compat == Envoy {
				ws = slices.Clone(ws)
				for i := range ws {
					ws[i] = min(ws[i], math.MaxUint32/uint32(len(ws)))
				}
			}
			eps := lbtest.Endpoints(lbtest.Weighted(ws...))
			start := time.Now()
			p := mustPicker(t, cfg, eps)
			assert.Less(t, time.Since(start), 5*time.Second)
			s, err := cfg.resolve()
			require.NoError(t, err)
			assert.LessOrEqual(t, uint64(len(p.ring.hashes)), s.max+uint64(len(eps)), "%v %v", cfg.Compat, ws)
			lbtest.Count(t, p, 100, lbtest.Requests(100, true))
		}
	}
}

// BenchmarkSearch compares the bucket index with a binary search over the
// same ring (the native layout at 1000 endpoints, 256,000 entries).
func BenchmarkSearch(b *testing.B) {
	p := mustPicker(b, Config{}, lbtest.Endpoints(lbtest.Backends(1000)))
	hashes := p.ring.hashes
	keys := lbtest.Hashes(1024, 42)
	b.Run("index", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			_ = p.index.search(hashes, keys[i&1023])
		}
	})
	b.Run("binary", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			h := keys[i&1023]
			_ = sort.Search(len(hashes), func(j int) bool { return hashes[j] >= h })
		}
	})
}
