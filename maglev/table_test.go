package maglev

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// envoyTable is a direct transcription of Envoy's OriginalMaglevTable
// construction, remainder per step and all, as the oracle for the fast
// build. It returns each slot's ID.
func envoyTable(eps []*balancer.Endpoint, m uint64) []string {
	type entry struct {
		id                   string
		offset, skip, next   uint64
		weight, targetWeight float64
	}
	var sum uint64
	for _, e := range eps {
		sum += uint64(max(e.Weight, 1))
	}
	entries := make([]entry, 0, len(eps))
	maxW := 0.0
	for _, e := range eps {
		w := float64(max(e.Weight, 1)) * 1.0 / float64(sum)
		maxW = max(maxW, w)
		d := xxhash.New()
		d.ResetWithSeed(1)
		_, _ = d.WriteString(e.ID)
		entries = append(entries, entry{
			id:     e.ID,
			offset: xxhash.Sum64String(e.ID) % m,
			skip:   d.Sum64()%(m-1) + 1,
			weight: w,
		})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.id, b.id) })
	table := make([]string, m)
	filled := uint64(0)
	for iteration := uint32(1); filled < m; iteration++ {
		for i := 0; i < len(entries) && filled < m; i++ {
			e := &entries[i]
			if float64(float64(iteration)*e.weight) < e.targetWeight {
				continue
			}
			e.targetWeight += maxW
			c := (e.offset + e.skip*e.next) % m
			for table[c] != "" {
				e.next++
				c = (e.offset + e.skip*e.next) % m
			}
			table[c] = e.id
			e.next++
			filled++
		}
	}
	return table
}

// ids returns the table of p as the ID in each slot.
func ids(t *testing.T, p balancer.Picker) []string {
	t.Helper()
	pk, ok := p.(*picker)
	require.True(t, ok, "Build returned %T", p)
	out := make([]string, pk.m)
	for s := range out {
		if pk.t16 != nil {
			out[s] = pk.eps[pk.t16[s]].ID
		} else {
			out[s] = pk.eps[pk.t32[s]].ID
		}
	}
	return out
}

func build(t *testing.T, c Config, bs []balancer.Backend) balancer.Picker {
	t.Helper()
	return lbtest.MustBuild(t, c, lbtest.Endpoints(bs))
}

func shares(table []string) map[string]int {
	s := map[string]int{}
	for _, id := range table {
		s[id]++
	}
	return s
}

func randomWeights(r *rand.Rand, n int, maxW uint32) []uint32 {
	ws := make([]uint32, n)
	for i := range ws {
		ws[i] = 1 + r.Uint32N(maxW)
	}
	return ws
}

// TestMatchesEnvoy compares the fast build with the transcription of
// Envoy's loop on many sets, weighted and not, for several table sizes.
func TestMatchesEnvoy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []uint64{2, 3, 13, 101, 1009, 65537} {
		for _, n := range []int{1, 2, 3, 10, 100} {
			if uint64(n) > m {
				continue
			}
			sets := map[string][]balancer.Backend{
				"equal":   lbtest.Backends(n),
				"w<=3":    lbtest.Weighted(randomWeights(r, n, 3)...),
				"w<=1000": lbtest.Weighted(randomWeights(r, n, 1000)...),
			}
			for name, bs := range sets {
				t.Run(fmt.Sprintf("m=%d/n=%d/%s", m, n, name), func(t *testing.T) {
					want := envoyTable(lbtest.Endpoints(bs), m)
					require.Equal(t, want, ids(t, build(t, Config{TableSize: m}, bs)))
				})
			}
		}
	}
}

// TestFillStrategiesAgree checks that Envoy's round loop and the heap
// schedule make the same table, including where the automatic choice
// would not use one of them.
func TestFillStrategiesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := [][]uint32{
		{1, 2}, {4294967295, 1}, {4294967295, 1, 7, 4294967295},
		randomWeights(r, 50, 2), randomWeights(r, 200, 100), randomWeights(r, 300, 4294967295),
	}
	for _, m := range []uint64{13, 1009, 65537} {
		for i, ws := range cases {
			if uint64(len(ws)) > m {
				continue
			}
			eps := lbtest.Endpoints(lbtest.Weighted(ws...))
			var tables [3][]uint16
			for j, how := range []fillStrategy{fillAuto, fillRounds, fillScheduled} {
				hs := sortedHosts(eps, m)
				tables[j] = buildTable[uint16](&hs, m, how)
			}
			require.Equal(t, tables[1], tables[2], "case %d m=%d: rounds vs scheduled", i, m)
			require.Equal(t, tables[1], tables[0], "case %d m=%d: rounds vs auto", i, m)
			hs := sortedHosts(eps, m)
			wide := buildTable[uint32](&hs, m, fillAuto)
			for s := range wide {
				require.Equal(t, uint32(tables[0][s]), wide[s], "uint16 and uint32 tables differ")
			}
		}
	}
}

// TestEnvoyWeightedShares is the fact Envoy documents for weights 1:2.
func TestEnvoyWeightedShares(t *testing.T) {
	s := shares(ids(t, build(t, Config{}, lbtest.Weighted(1, 2))))
	assert.Equal(t, 21846, s[lbtest.Addr(0)])
	assert.Equal(t, 43691, s[lbtest.Addr(1)])
}

// TestEqualShares: with equal weights each of N endpoints owns floor(M/N)
// or ceil(M/N) slots, since all claim in every round.
func TestEqualShares(t *testing.T) {
	for _, n := range []int{1, 7, 100, 1000, 65537} {
		s := shares(ids(t, build(t, Config{}, lbtest.Backends(n))))
		require.Len(t, s, n)
		for id, c := range s {
			require.True(t, c == DefaultTableSize/n || c == (DefaultTableSize+n-1)/n, "%s owns %d slots", id, c)
		}
	}
}

// TestOrderDoesNotMatter: the table is a pure function of the set.
func TestOrderDoesNotMatter(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []uint64{13, 65537} {
		for _, bs := range [][]balancer.Backend{lbtest.Backends(13), lbtest.Weighted(randomWeights(r, 13, 50)...)} {
			want := ids(t, build(t, Config{TableSize: m}, bs))
			for range 5 {
				shuffled := slices.Clone(bs)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				require.Equal(t, want, ids(t, build(t, Config{TableSize: m}, shuffled)))
			}
		}
	}
}

// TestExtremeWeights: every endpoint owns a slot next to a weight of
// 4294967295, and the build stays fast (the heap skips the light ones).
func TestExtremeWeights(t *testing.T) {
	ws := make([]uint32, 1000)
	for i := range ws {
		ws[i] = 1
	}
	ws[500] = 4294967295
	start := time.Now()
	s := shares(ids(t, build(t, Config{}, lbtest.Weighted(ws...))))
	elapsed := time.Since(start)
	require.Len(t, s, 1000, "every endpoint owns at least one slot")
	for i, w := range ws {
		if w == 1 {
			assert.Equal(t, 1, s[lbtest.Addr(i)])
		}
	}
	assert.Equal(t, DefaultTableSize-999, s[lbtest.Addr(500)])
	assert.Less(t, elapsed, 2*time.Second, "a skewed build must not visit every endpoint in every round")

	s = shares(ids(t, build(t, Config{TableSize: 13}, lbtest.Weighted(4294967295, 1))))
	assert.Equal(t, map[string]int{lbtest.Addr(0): 12, lbtest.Addr(1): 1}, s)
}

// TestWideTable: above 65,536 endpoints slots are uint32.
func TestWideTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 70,001-endpoint table")
	}
	const n, m = 70_000, 70_001
	require.True(t, isPrime(m))
	p := build(t, Config{TableSize: m}, lbtest.Backends(n))
	pk := p.(*picker)
	require.Nil(t, pk.t16)
	require.Len(t, pk.t32, m)
	s := shares(ids(t, p))
	require.Len(t, s, n)
}

// TestGolden pins the layout, a wire format: the first 64 slots and an
// XXH64 of every slot's ID, newline-terminated.
func TestGolden(t *testing.T) {
	cases := []struct {
		name    string
		m       uint64
		bs      []balancer.Backend
		first   string
		summary uint64
	}{
		{"equal/n=10/m=65537", 65537, lbtest.Backends(10), goldenFirst[0], goldenSum[0]},
		{"weighted/1..5/m=65537", 65537, lbtest.Weighted(1, 2, 3, 4, 5), goldenFirst[1], goldenSum[1]},
		{"equal/n=5/m=13", 13, lbtest.Backends(5), goldenFirst[2], goldenSum[2]},
		{"weighted/3,1,2/m=13", 13, lbtest.Weighted(3, 1, 2), goldenFirst[3], goldenSum[3]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := ids(t, build(t, Config{TableSize: c.m}, c.bs))
			assert.Equal(t, c.first, compact(table[:min(64, len(table))], c.bs), "first 64 slots")
			assert.Equal(t, c.summary, checksum(table), "checksum of the whole table")
		})
	}
}

// compact renders slots as the index i of lbtest.Addr(i), comma-separated.
func compact(table []string, bs []balancer.Backend) string {
	idx := map[string]int{}
	for i, b := range bs {
		idx[b.ID] = i
	}
	parts := make([]string, len(table))
	for s, id := range table {
		parts[s] = fmt.Sprint(idx[id])
	}
	return strings.Join(parts, ",")
}

func checksum(table []string) uint64 {
	d := xxhash.New()
	for _, id := range table {
		_, _ = d.WriteString(id + "\n")
	}
	return d.Sum64()
}

// The golden layouts, which TestMatchesEnvoy's transcription of Envoy's
// loop also produces.
var goldenFirst = [...]string{
	"3,5,6,9,5,2,9,0,5,4,7,3,7,1,7,3,1,9,5,4,6,8,5,7,0,8,3,4,8,6,1,9,5,1,9,2,7,8,7,5,2,3,7,5,0,3,5,1,9,7,2,7,4,5,9,2,4,6,0,6,5,0,9,1",
	"3,4,3,4,3,2,4,4,3,4,2,3,3,4,2,4,1,4,4,4,2,4,4,4,0,4,3,4,4,2,3,3,4,1,3,2,4,2,3,2,2,3,3,3,1,3,4,1,4,3,2,3,4,3,4,2,4,3,0,2,3,1,4,2",
	"3,4,0,0,2,1,2,4,2,1,1,0,3",
	"1,0,2,0,2,0,2,2,1,0,1,0,0",
}

var goldenSum = [...]uint64{0xfb82a4f36d63ca76, 0xb12355dea43670db, 0xa3fca74d4e161c58, 0x9e02136f89e54ac5}

func TestWrapAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, m := range []uint32{2, 3, 13, 65537, MaxTableSize} {
		for range 10000 {
			c, s := r.Uint32N(m), r.Uint32N(m)
			require.Equal(t, uint32((uint64(c)+uint64(s))%uint64(m)), wrapAdd(c, s, m))
		}
		require.Equal(t, m-2, wrapAdd(m-1, m-1, m))
	}
}

func TestIsPrime(t *testing.T) {
	const limit = 100_000
	composite := make([]bool, limit)
	for i := 2; i < limit; i++ {
		if !composite[i] {
			for j := i * i; j < limit; j += i {
				composite[j] = true
			}
		}
		require.Equal(t, !composite[i], isPrime(uint64(i)), "%d", i)
	}
	assert.False(t, isPrime(0))
	assert.False(t, isPrime(1))
	assert.True(t, isPrime(65537))
	assert.True(t, isPrime(655373))
	assert.True(t, isPrime(MaxTableSize))
	assert.False(t, isPrime(65535))
}
