package bench

import (
	"fmt"
	"testing"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/random"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

// algorithm is one lbkit configuration in the side-by-side benchmarks.
type algorithm struct {
	name     string
	cfg      balancer.Builder
	weighted bool // backends get weights 1, 2, 3, 4, 5, 1, 2, ...
}

var algorithms = []algorithm{
	{"round-robin", roundrobin.Config{}, false},
	{"round-robin-weighted", roundrobin.Config{}, true},
	{"random", random.Config{}, false},
	{"random-weighted", random.Config{}, true},
	{"p2c", leastconn.Config{}, false},
	{"p2c-weighted", leastconn.Config{}, true},
	{"least-request-full", leastconn.Config{FullScan: true}, false},
	{"peak-ewma", leastconn.Config{PeakEWMA: true}, false},
	{"ring-hash", ringhash.Config{}, false},
	{"ring-hash-envoy", ringhash.Config{Compat: ringhash.Envoy}, false},
	{"ring-hash-bounded", ringhash.Config{BalanceFactor: 1.25}, false},
	{"maglev", maglev.Config{}, false},
	{"maglev-bounded", maglev.Config{BalanceFactor: 1.25}, false},
}

var pickSizes = []int{10, 100, 1000}

func backends(a algorithm, n int) []balancer.Backend {
	bs := lbtest.Backends(n)
	if a.weighted {
		for i := range bs {
			bs[i].Weight = uint32(1 + i%5)
		}
	}
	return bs
}

// setup returns a Balancer over n endpoints with some load in flight, so
// that load-aware pickers compare real counts, and the request stream
// every algorithm sees (precomputed random hashes).
func setup(b *testing.B, a algorithm, n int) (*balancer.Balancer, []balancer.Request) {
	bal := balancer.New(a.cfg)
	if err := bal.Update(backends(a, n)); err != nil {
		b.Fatal(err)
	}
	for i := range 2 * n {
		r, err := bal.Pick(balancer.Request{Hash: uint64(i) * 0x9e3779b97f4a7c15, HasHash: true})
		if err != nil {
			b.Fatal(err)
		}
		if i%3 == 0 {
			r.Done(balancer.DoneInfo{})
		}
	}
	return bal, lbtest.Requests(1024, true)
}

// BenchmarkPick is a bare Picker.Pick for every algorithm on the same
// inputs: compare with benchstat -col /alg.
func BenchmarkPick(b *testing.B) {
	for _, a := range algorithms {
		for _, n := range pickSizes {
			b.Run(fmt.Sprintf("alg=%s/n=%d", a.name, n), func(b *testing.B) {
				bal, reqs := setup(b, a, n)
				p := bal.Picker()
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					_, _ = p.Pick(reqs[i&1023])
				}
			})
		}
	}
}

// BenchmarkPickParallel is BenchmarkPick from GOMAXPROCS goroutines at
// once: ns/op is wall time per pick across them.
func BenchmarkPickParallel(b *testing.B) {
	for _, a := range algorithms {
		for _, n := range pickSizes {
			b.Run(fmt.Sprintf("alg=%s/n=%d", a.name, n), func(b *testing.B) {
				bal, reqs := setup(b, a, n)
				p := bal.Picker()
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						_, _ = p.Pick(reqs[i&1023])
					}
				})
			})
		}
	}
}

// BenchmarkPickDone is Balancer.Pick plus Result.Done, what a proxy pays
// a request: the difference from BenchmarkPick is the Balancer's own cost.
func BenchmarkPickDone(b *testing.B) {
	for _, a := range algorithms {
		n := 100
		b.Run(fmt.Sprintf("alg=%s/n=%d", a.name, n), func(b *testing.B) {
			bal, reqs := setup(b, a, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r, _ := bal.Pick(reqs[i&1023])
				r.Done(balancer.DoneInfo{})
			}
		})
	}
}

// BenchmarkUpdate replaces one endpoint of n, alternating between two
// sets, through Balancer.Update: the diff, the build and the swap.
func BenchmarkUpdate(b *testing.B) {
	for _, a := range algorithms {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("alg=%s/n=%d", a.name, n), func(b *testing.B) {
				bal := balancer.New(a.cfg)
				sets := [][]balancer.Backend{backends(a, n), backends(a, n+1)[1:]}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if err := bal.Update(sets[i%2]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
