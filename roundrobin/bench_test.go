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

func BenchmarkPickWeighted(b *testing.B) {
	lbtest.BenchPickSet(b, roundrobin.Config{}, false, weighted)
}

func BenchmarkPickWeightedParallel(b *testing.B) {
	lbtest.BenchPickSet(b, roundrobin.Config{}, true, weighted)
}

// weighted returns n backends weighted 1, 2, ..., 5, 1, 2, ...
func weighted(n int) []balancer.Backend { return lbtest.Cyclic(n, 5) }

func BenchmarkBuild(b *testing.B) {
	for _, n := range lbtest.Sizes {
		for _, weighted := range []bool{false, true} {
			bs := lbtest.Backends(n)
			if weighted {
				bs = lbtest.Cyclic(n, 5)
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
