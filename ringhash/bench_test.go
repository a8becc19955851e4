package ringhash_test

import (
	"fmt"
	"testing"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/ringhash"
)

func BenchmarkPick(b *testing.B) { lbtest.BenchPick(b, ringhash.Config{}, false) }

func BenchmarkPickParallel(b *testing.B) { lbtest.BenchPick(b, ringhash.Config{}, true) }

func BenchmarkPickEnvoy(b *testing.B) {
	lbtest.BenchPick(b, ringhash.Config{Compat: ringhash.Envoy}, false)
}

func BenchmarkPickBounded(b *testing.B) {
	lbtest.BenchPick(b, ringhash.Config{BalanceFactor: 1.25}, false)
}

// BenchmarkPickBoundedLoaded picks through a Balancer that keeps the total
// in flight, with about 8 requests in flight per endpoint, so that most
// picks compare the hashed endpoint's load with its capacity.
func BenchmarkPickBoundedLoaded(b *testing.B) {
	for _, n := range lbtest.Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bal := balancer.New(ringhash.Config{BalanceFactor: 1.25})
			if err := bal.Update(lbtest.Backends(n)); err != nil {
				b.Fatal(err)
			}
			for _, req := range lbtest.Requests(8*n, true) {
				if _, err := bal.Pick(req); err != nil { // never Done: stays in flight
					b.Fatal(err)
				}
			}
			p := bal.Picker()
			reqs := lbtest.Requests(1024, true)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_, _ = p.Pick(reqs[i&1023])
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, cfg := range []ringhash.Config{{}, {Compat: ringhash.Envoy}, {Compat: ringhash.GRPC}} {
		for _, n := range lbtest.Sizes {
			b.Run(fmt.Sprintf("%v/n=%d", cfg.Compat, n), func(b *testing.B) {
				eps := lbtest.Endpoints(lbtest.Backends(n))
				b.ReportAllocs()
				for b.Loop() {
					lbtest.MustBuild(b, cfg, eps)
				}
			})
		}
	}
}
