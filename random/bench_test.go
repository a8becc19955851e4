package random_test

import (
	"fmt"
	"testing"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/random"
)

func BenchmarkPick(b *testing.B)         { lbtest.BenchPick(b, random.Config{}, false) }
func BenchmarkPickParallel(b *testing.B) { lbtest.BenchPick(b, random.Config{}, true) }

// BenchmarkPickWeighted picks from endpoints weighted 1..n through the
// alias table.
func BenchmarkPickWeighted(b *testing.B) {
	for _, n := range lbtest.Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bs := lbtest.Backends(n)
			for i := range bs {
				bs[i].Weight = uint32(i + 1)
			}
			p := lbtest.MustBuild(b, random.Config{}, lbtest.Endpoints(bs))
			reqs := lbtest.Requests(1024, true)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_, _ = p.Pick(reqs[i&1023])
			}
		})
	}
}

// BenchmarkPickWeightedParallel is BenchmarkPickWeighted with
// b.RunParallel.
func BenchmarkPickWeightedParallel(b *testing.B) {
	for _, n := range lbtest.Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bs := lbtest.Backends(n)
			for i := range bs {
				bs[i].Weight = uint32(i + 1)
			}
			p := lbtest.MustBuild(b, random.Config{}, lbtest.Endpoints(bs))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = p.Pick(balancer.Request{})
				}
			})
		})
	}
}
