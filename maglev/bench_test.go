package maglev

import (
	"fmt"
	"testing"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

func BenchmarkPick(b *testing.B)         { lbtest.BenchPick(b, Config{}, false) }
func BenchmarkPickParallel(b *testing.B) { lbtest.BenchPick(b, Config{}, true) }

// BenchmarkPickBounded picks through a Balancer with a balance factor,
// each request ended at once, so the bound is checked on every pick.
func BenchmarkPickBounded(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bal := balancer.New(Config{BalanceFactor: 1.25})
			if err := bal.Update(lbtest.Backends(n)); err != nil {
				b.Fatal(err)
			}
			reqs := lbtest.Requests(1024, true)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				res, _ := bal.Pick(reqs[i&1023])
				res.Done(balancer.DoneInfo{})
			}
		})
	}
}

// BenchmarkPickBoundedHot sends one hot key with 1000 requests held in
// flight, so every pick overflows the hashed endpoint and probes.
func BenchmarkPickBoundedHot(b *testing.B) {
	bal := balancer.New(Config{BalanceFactor: 1.25})
	if err := bal.Update(lbtest.Backends(100)); err != nil {
		b.Fatal(err)
	}
	req := balancer.KeyRequest("hot")
	for range 1000 {
		_, _ = bal.Pick(req)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, _ := bal.Pick(req)
		res.Done(balancer.DoneInfo{})
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, weighted := range []bool{false, true} {
		for _, n := range lbtest.Sizes {
			bs := lbtest.Backends(n)
			name := fmt.Sprintf("n=%d", n)
			if weighted {
				for i := range bs {
					bs[i].Weight = uint32(1 + i%10)
				}
				name += "/weighted"
			}
			b.Run(name, func(b *testing.B) {
				eps := lbtest.Endpoints(bs)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := (Config{}).Build(eps); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
