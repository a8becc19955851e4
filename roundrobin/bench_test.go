package roundrobin_test

import (
	"fmt"
	"testing"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/roundrobin"
)

func BenchmarkPick(b *testing.B) { lbtest.BenchPick(b, roundrobin.Config{}, false) }

func BenchmarkPickParallel(b *testing.B) { lbtest.BenchPick(b, roundrobin.Config{}, true) }

func BenchmarkPickWeighted(b *testing.B) { benchWeighted(b, false) }

func BenchmarkPickWeightedParallel(b *testing.B) { benchWeighted(b, true) }

// repeating returns n weights 1, 2, ..., 5, 1, 2, ...
func repeating(n int) []uint32 {
	ws := make([]uint32, n)
	for i := range ws {
		ws[i] = uint32(i%5 + 1)
	}
	return ws
}

// benchWeighted is lbtest.BenchPick with the weights 1..5 repeating.
func benchWeighted(b *testing.B, parallel bool) {
	for _, n := range lbtest.Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			p := lbtest.MustBuild(b, roundrobin.Config{}, lbtest.Endpoints(lbtest.Weighted(repeating(n)...)))
			b.ReportAllocs()
			b.ResetTimer()
			if !parallel {
				for b.Loop() {
					_, _ = p.Pick(balancer.Request{})
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = p.Pick(balancer.Request{})
				}
			})
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range lbtest.Sizes {
		for _, weighted := range []bool{false, true} {
			bs := lbtest.Backends(n)
			if weighted {
				bs = lbtest.Weighted(repeating(n)...)
			}
			eps := lbtest.Endpoints(bs)
			b.Run(fmt.Sprintf("n=%d/weighted=%v", n, weighted), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = roundrobin.Config{}.Build(eps)
				}
			})
		}
	}
}
