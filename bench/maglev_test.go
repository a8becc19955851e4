package bench

import (
	"fmt"
	"math"
	"testing"

	gomaglev "github.com/dgryski/go-maglev"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/maglev"
)

// go-maglev hangs on an empty name list and on a non-prime table size, and
// its Rebuild races with Lookup: every input below is valid, and each
// table is used by one goroutine.

var (
	buildSizes  = []int{10, 100, 1000, 5000}
	tableSizes  = []uint64{gomaglev.SmallM, gomaglev.BigM} // 65537, 655373
	lookupSizes = []int{10, 100, 1000}
)

// names returns the IDs both implementations get: lbtest.Addr(0..n-1).
func names(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = lbtest.Addr(i)
	}
	return s
}

func BenchmarkMaglevBuild(b *testing.B) {
	for _, impl := range []string{"lbkit", "go-maglev"} {
		for _, n := range buildSizes {
			for _, m := range tableSizes {
				b.Run(fmt.Sprintf("impl=%s/n=%d/m=%d", impl, n, m), func(b *testing.B) {
					b.ReportAllocs()
					if impl == "go-maglev" {
						ns := names(n)
						for b.Loop() {
							gomaglev.New(ns, m)
						}
						return
					}
					eps := lbtest.Endpoints(lbtest.Backends(n))
					cfg := maglev.Config{TableSize: m}
					for b.Loop() {
						if _, err := cfg.Build(eps); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkMaglevLookup looks up the same precomputed hashes: go-maglev's
// Lookup against lbkit's Picker.Pick, called through the balancer.Picker
// interface as a proxy calls it, with a Request made from the hash.
func BenchmarkMaglevLookup(b *testing.B) {
	hashes := lbtest.Hashes(1024, 42)
	for _, impl := range []string{"lbkit", "go-maglev"} {
		for _, n := range lookupSizes {
			b.Run(fmt.Sprintf("impl=%s/n=%d", impl, n), func(b *testing.B) {
				b.ReportAllocs()
				if impl == "go-maglev" {
					t := gomaglev.New(names(n), gomaglev.SmallM)
					sink := 0
					for i := 0; b.Loop(); i++ {
						sink += t.Lookup(hashes[i&1023])
					}
					_ = sink
					return
				}
				p, err := maglev.Config{}.Build(lbtest.Endpoints(lbtest.Backends(n)))
				require.NoError(b, err)
				var sink *balancer.Endpoint
				for i := 0; b.Loop(); i++ {
					sink, _ = p.Pick(balancer.Request{Hash: hashes[i&1023], HasHash: true})
				}
				_ = sink
			})
		}
	}
}

// TestMaglevSameShape checks that the two implementations are comparable:
// both fill every slot of the table and give every name a near-equal
// share (their hashes differ, siphash against XXH64, so the tables do).
func TestMaglevSameShape(t *testing.T) {
	const m = gomaglev.SmallM
	for _, n := range []int{10, 100, 1000} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			ns := names(n)
			gm := gomaglev.New(ns, m)
			p, err := maglev.Config{TableSize: m}.Build(lbtest.Endpoints(lbtest.Backends(n)))
			require.NoError(t, err)

			theirs := make([]int, n)
			ours := map[string]int{}
			for h := range uint64(m) {
				i := gm.Lookup(h)
				require.True(t, i >= 0 && i < n, "go-maglev slot %d holds %d", h, i)
				theirs[i]++
				e, err := p.Pick(balancer.Request{Hash: h, HasHash: true})
				require.NoError(t, err)
				require.NotNil(t, e)
				ours[e.ID]++
			}
			require.Len(t, ours, n, "lbkit: every endpoint owns slots")

			// Maglev's fill gives each of N equal hosts floor(M/N) or
			// ceil(M/N) slots; both implementations must.
			lo, hi := m/n, (m+n-1)/n
			for i, c := range theirs {
				assert.True(t, c >= lo && c <= hi, "go-maglev: %s has %d slots, want %d..%d", ns[i], c, lo, hi)
			}
			for id, c := range ours {
				assert.True(t, c >= lo && c <= hi, "lbkit: %s has %d slots, want %d..%d", id, c, lo, hi)
			}
			assert.Equal(t, spread(theirs), spread(values(ours)), "same max-min spread")
		})
	}
}

func values(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// spread returns max - min.
func spread(xs []int) int {
	lo, hi := math.MaxInt, math.MinInt
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return hi - lo
}
