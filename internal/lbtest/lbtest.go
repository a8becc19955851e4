// Package lbtest holds the fixtures and checks that every picker package's
// tests share: backend sets, the Pick contract, and the Pick benchmarks.
package lbtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lbkit/lbkit/balancer"
)

// Sizes are the endpoint counts every BenchmarkPick runs at.
var Sizes = []int{10, 100, 1000, 10000}

// Addr returns the address Envoy's load-balancer benchmark gives host i:
// 10.0.{i/256}.{i%256}:6379.
func Addr(i int) string {
	return "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":6379"
}

// Backends returns n backends of weight 1 whose IDs are Addr(0..n-1).
func Backends(n int) []balancer.Backend {
	bs := make([]balancer.Backend, n)
	for i := range bs {
		bs[i] = balancer.Backend{ID: Addr(i)}
	}
	return bs
}

// Weighted returns backends whose weights are ws, with IDs Addr(i).
func Weighted(ws ...uint32) []balancer.Backend {
	bs := Backends(len(ws))
	for i, w := range ws {
		bs[i].Weight = w
	}
	return bs
}

// Endpoints makes a fresh Endpoint for each backend.
func Endpoints(bs []balancer.Backend) []*balancer.Endpoint {
	eps := make([]*balancer.Endpoint, len(bs))
	for i, b := range bs {
		eps[i] = balancer.NewEndpoint(b)
	}
	return eps
}

// MustBuild builds a Picker or fails the test.
func MustBuild(tb testing.TB, b balancer.Builder, eps []*balancer.Endpoint) balancer.Picker {
	tb.Helper()
	p, err := b.Build(eps)
	if err != nil {
		tb.Fatalf("Build(%d endpoints): %v", len(eps), err)
	}
	return p
}

// Hashes returns n request hashes drawn from a generator seeded with seed.
func Hashes(n int, seed uint64) []uint64 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = r.Uint64()
	}
	return hs
}

// Requests returns n requests: hashed with a seeded hash when hashed is
// true, zero Requests otherwise.
func Requests(n int, hashed bool) []balancer.Request {
	reqs := make([]balancer.Request, n)
	if hashed {
		for i, h := range Hashes(n, 42) {
			reqs[i] = balancer.Request{Hash: h, HasHash: true}
		}
	}
	return reqs
}

// Count picks n times from p with the requests reqs (cycled) and returns
// the picks per endpoint ID. It fails the test on any error.
func Count(tb testing.TB, p balancer.Picker, n int, reqs []balancer.Request) map[string]int {
	tb.Helper()
	counts := map[string]int{}
	for i := range n {
		req := balancer.Request{}
		if len(reqs) > 0 {
			req = reqs[i%len(reqs)]
		}
		e, err := p.Pick(req)
		if err != nil {
			tb.Fatalf("pick %d: %v", i, err)
		}
		counts[e.ID]++
	}
	return counts
}

// Contract checks what every Picker promises, for the Builder b:
//
//   - an empty set answers ErrNoEndpoints, from Build and from a Balancer;
//   - one endpoint is always picked, hashed or not, on every attempt;
//   - picks come from the set;
//   - Picker.Pick and Balancer.Pick + Result.Done allocate nothing;
//   - picks racing Updates (run it with -race) all succeed, and every
//     endpoint's in-flight count is back to zero at the end.
func Contract(t *testing.T, b balancer.Builder) {
	t.Run("empty", func(t *testing.T) {
		for _, eps := range [][]*balancer.Endpoint{nil, {}} {
			p := MustBuild(t, b, eps)
			for _, req := range Requests(3, true) {
				if _, err := p.Pick(req); !errors.Is(err, balancer.ErrNoEndpoints) {
					t.Fatalf("Pick on an empty set: err = %v, want ErrNoEndpoints", err)
				}
			}
		}
		bal := balancer.New(b)
		if _, err := bal.Pick(balancer.Request{}); !errors.Is(err, balancer.ErrNoEndpoints) {
			t.Fatalf("Balancer.Pick before Update: err = %v", err)
		}
	})
	t.Run("one", func(t *testing.T) {
		eps := Endpoints(Backends(1))
		p := MustBuild(t, b, eps)
		for i, req := range append(Requests(50, true), Requests(50, false)...) {
			req.Attempt = i % 4
			if e, err := p.Pick(req); err != nil || e != eps[0] {
				t.Fatalf("pick %d: %v, %v; want the only endpoint", i, e, err)
			}
		}
	})
	t.Run("members", func(t *testing.T) {
		eps := Endpoints(Weighted(1, 2, 3, 4, 5, 6, 7))
		in := map[*balancer.Endpoint]bool{}
		for _, e := range eps {
			in[e] = true
		}
		p := MustBuild(t, b, eps)
		for i, req := range append(Requests(500, true), Requests(500, false)...) {
			req.Attempt = i % 3
			if e, err := p.Pick(req); err != nil || !in[e] {
				t.Fatalf("pick %d: %v, %v; want a member of the set", i, e, err)
			}
		}
	})
	t.Run("allocs", func(t *testing.T) {
		for _, n := range []int{1, 10, 1000} {
			bal := balancer.New(b)
			if err := bal.Update(Backends(n)); err != nil {
				t.Fatal(err)
			}
			p := bal.Picker()
			for _, req := range Requests(2, true)[:1] {
				for _, r := range []balancer.Request{req, {}} {
					if a := testing.AllocsPerRun(100, func() { _, _ = p.Pick(r) }); a != 0 {
						t.Errorf("n=%d: Picker.Pick allocates %v times", n, a)
					}
					if a := testing.AllocsPerRun(100, func() {
						res, _ := bal.Pick(r)
						res.Done(balancer.DoneInfo{})
					}); a != 0 {
						t.Errorf("n=%d: Balancer.Pick+Done allocates %v times", n, a)
					}
				}
			}
		}
	})
	t.Run("race", func(t *testing.T) { Race(t, b) })
}

// Race runs pickers against concurrent Updates that add, remove and
// reweight endpoints, then checks that every pick succeeded and that every
// endpoint ever published is back to zero in flight.
func Race(t *testing.T, b balancer.Builder) {
	bal := balancer.New(b)
	sets := [][]balancer.Backend{Backends(20), Backends(7), Weighted(5, 1, 1, 3, 2), Backends(64)[30:]}
	if err := bal.Update(sets[0]); err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		seen  = map[*balancer.Endpoint]bool{}
		errs  = make(chan error, 4)
		picks atomic.Int64
	)
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			local := map[*balancer.Endpoint]bool{}
			reqs := Requests(64, g%2 == 0)
			for i := 0; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					for e := range local {
						seen[e] = true
					}
					mu.Unlock()
					return
				default:
				}
				req := reqs[i%len(reqs)]
				req.Attempt = i % 2
				res, err := bal.Pick(req)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d pick %d: %w", g, i, err)
					return
				}
				local[res.Endpoint] = true
				res.Done(balancer.DoneInfo{})
				picks.Add(1)
			}
		})
	}
	// Keep updating until the pickers have overlapped many updates.
	for i := 0; i < 200 || picks.Load() < 20_000; i++ {
		if len(errs) > 0 {
			break
		}
		if err := bal.Update(sets[i%len(sets)]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for e := range seen {
		if n := e.InFlight(); n != 0 {
			t.Errorf("endpoint %s: %d in flight after every request ended", e.ID, n)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no pick was made")
	}
}

// BenchPick benchmarks a bare Picker.Pick at every size in Sizes over
// endpoints of equal weight, serially (BenchmarkPick/n=N) when parallel is
// false and with b.RunParallel otherwise. Requests carry precomputed
// random hashes, so hash pickers and load pickers see the same request
// stream.
func BenchPick(b *testing.B, builder balancer.Builder, parallel bool) {
	BenchPickSet(b, builder, parallel, Backends)
}

// BenchPickSet is BenchPick over the backends set(n) returns.
func BenchPickSet(b *testing.B, builder balancer.Builder, parallel bool, set func(n int) []balancer.Backend) {
	for _, n := range Sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			p := MustBuild(b, builder, Endpoints(set(n)))
			reqs := Requests(1024, true)
			b.ReportAllocs()
			b.ResetTimer()
			if !parallel {
				for i := 0; b.Loop(); i++ {
					_, _ = p.Pick(reqs[i&1023])
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					_, _ = p.Pick(reqs[i&1023])
				}
			})
		})
	}
}

// Cyclic returns n backends whose weights run 1, 2, ..., k, 1, 2, ...
func Cyclic(n int, k uint32) []balancer.Backend {
	bs := Backends(n)
	for i := range bs {
		bs[i].Weight = 1 + uint32(i)%k
	}
	return bs
}
