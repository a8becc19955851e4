package affinity_test

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
)

// stickyBenchSizes are the key sets of the lookup benchmarks: a few hot
// keys, a set whose table stays in cache (L2), and 2^20 keys whose 56 MiB
// table does not.
var stickyBenchSizes = []int{1 << 4, 1 << 10, 1 << 20}

// pinned returns a table holding sessions for n random keys, spread over
// 100 endpoints, in a table twice as large, and the keys shuffled.
func pinned(b *testing.B, n int) (*affinity.Sticky, *balancer.Balancer, []uint64) {
	b.Helper()
	bal := rrBalancer(b, 100)
	s := newSticky(b, affinity.StickyConfig{MaxEntries: 2 * n})
	r := rand.New(rand.NewPCG(uint64(n), 1))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = r.Uint64()
		res, _, err := s.Pick(bal, keys[i], balancer.Request{}, stickyT0)
		if err != nil {
			b.Fatal(err)
		}
		res.Done(balancer.DoneInfo{})
	}
	r.Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	return s, bal, keys
}

func BenchmarkStickyLookup(b *testing.B) {
	for _, n := range stickyBenchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s, _, keys := pinned(b, n)
			mask := len(keys) - 1
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := s.Lookup(keys[i&mask], stickyT0); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

func BenchmarkStickyLookupParallel(b *testing.B) {
	for _, n := range stickyBenchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s, _, keys := pinned(b, n)
			mask := len(keys) - 1
			var start atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(start.Add(int64(n / 7)))
				for pb.Next() {
					if _, ok := s.Lookup(keys[i&mask], stickyT0); !ok {
						panic("miss")
					}
					i++
				}
			})
		})
	}
}

// BenchmarkStickyPick measures a pinned key's pick through a Balancer and
// its Done (hit), and a new key's pick through the Balancer into a full
// table, evicting (miss).
func BenchmarkStickyPick(b *testing.B) {
	for _, n := range stickyBenchSizes {
		b.Run(fmt.Sprintf("hit/keys=%d", n), func(b *testing.B) {
			s, bal, keys := pinned(b, n)
			mask := len(keys) - 1
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				res, hit, _ := s.Pick(bal, keys[i&mask], balancer.Request{}, stickyT0)
				if !hit {
					b.Fatal("miss")
				}
				res.Done(balancer.DoneInfo{})
				i++
			}
		})
	}
	b.Run("miss", func(b *testing.B) {
		s, bal, _ := pinned(b, 1<<15)
		b.ReportAllocs()
		key := uint64(0)
		for b.Loop() {
			key++
			res, hit, _ := s.Pick(bal, key*0x9e3779b97f4a7c15, balancer.Request{}, stickyT0)
			if hit {
				b.Fatal("hit")
			}
			res.Done(balancer.DoneInfo{})
		}
	})
}

func BenchmarkStickyPickParallel(b *testing.B) {
	b.Run("hit/keys=1024", func(b *testing.B) {
		s, bal, keys := pinned(b, 1024)
		mask := len(keys) - 1
		var start atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(start.Add(1 << 9))
			for pb.Next() {
				res, _, _ := s.Pick(bal, keys[i&mask], balancer.Request{}, stickyT0)
				res.Done(balancer.DoneInfo{})
				i++
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		s, bal, _ := pinned(b, 1<<15)
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			key := next.Add(1) << 40
			for pb.Next() {
				key++
				res, _, _ := s.Pick(bal, key*0x9e3779b97f4a7c15, balancer.Request{}, stickyT0)
				res.Done(balancer.DoneInfo{})
			}
		})
	})
}
