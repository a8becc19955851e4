package health_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/random"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

func algorithms() map[string]balancer.Builder {
	return map[string]balancer.Builder{
		"round-robin":       roundrobin.Config{},
		"random":            random.Config{},
		"least-request":     leastconn.Config{},
		"least-request-3":   leastconn.Config{Choices: 3},
		"full-scan":         leastconn.Config{FullScan: true},
		"peak-ewma":         leastconn.Config{PeakEWMA: true},
		"ring-hash":         ringhash.Config{},
		"ring-hash-bounded": ringhash.Config{BalanceFactor: 1.25},
		"maglev":            maglev.Config{},
		"maglev-bounded":    maglev.Config{BalanceFactor: 1.25},
	}
}

func fullConfig() health.Config {
	return health.Config{
		Active:    &health.ActiveConfig{Interval: time.Second, UnhealthyThreshold: 2},
		Outlier:   &health.OutlierDetection{KeepEjectedOnActivePass: true},
		SlowStart: &health.SlowStart{Window: 10 * time.Second},
	}
}

// Every algorithm works with every feature: no pick lands on an ejected
// or down endpoint, endpoints ramping up serve, and Pick + Done allocate
// nothing with outlier detection on.
func TestEveryAlgorithmWithEveryFeature(t *testing.T) {
	for name, b := range algorithms() {
		t.Run(name, func(t *testing.T) {
			bal := balancer.New(b)
			require.NoError(t, bal.UpdateAt(1, backends(20)))
			m, err := health.New(bal, fullConfig(), 1)
			require.NoError(t, err)
			finish(endpoint(t, bal, "pod-3"), 5, balancer.DoneInfo{Failure: balancer.GatewayFailure, Now: 2 * sec})
			for now := 2 * sec; now <= 3*sec; now += sec {
				for _, e := range m.DueChecks(now, nil) {
					var err error
					if e.ID == "pod-5" {
						err = assert.AnError
					}
					m.CheckResult(e, err, now)
				}
			}
			require.NoError(t, bal.UpdateAt(4*sec, backends(22)))
			st := m.Status()
			require.Equal(t, 18+2, st.Healthy)
			rng := rand.New(rand.NewPCG(1, 2))
			seen := map[string]int{}
			for i := range 5000 {
				req := balancer.Request{Hash: rng.Uint64(), HasHash: i%2 == 0, Now: 5 * sec}
				r, err := bal.Pick(req)
				require.NoError(t, err)
				seen[r.Endpoint.ID]++
				r.Done(balancer.DoneInfo{Latency: 40 * time.Millisecond, Now: 5 * sec})
			}
			assert.Zero(t, seen["pod-3"], "ejected")
			assert.Zero(t, seen["pod-5"], "down")
			assert.True(t, contains(bal.Serving(), "pod-21"), "ramping up, but serving")
			if name != "peak-ewma" { // at a tenth of its weight, it costs peak EWMA ten times more
				assert.Positive(t, seen["pod-21"], "ramping up, but picked")
			}
			if name != "peak-ewma" {
				assert.Len(t, seen, 20)
			}
			allocs := testing.AllocsPerRun(200, func() {
				r, _ := bal.Pick(balancer.Request{Hash: 7, HasHash: true})
				r.Done(balancer.DoneInfo{})
			})
			assert.Zero(t, allocs)
		})
	}
}

// Picks race health transitions, Updates and the Monitor's clock; run it
// with -race. Every pick succeeds (the panic threshold keeps endpoints in)
// and every endpoint ends with nothing in flight.
func TestPicksRaceTransitions(t *testing.T) {
	for name, b := range algorithms() {
		t.Run(name, func(t *testing.T) {
			bal := balancer.New(b)
			require.NoError(t, bal.UpdateAt(1, backends(12)))
			cfg := fullConfig()
			cfg.Outlier.Consecutive5xx = 2
			cfg.Outlier.MaxEjectionPercent = 50
			m, err := health.New(bal, cfg, 1)
			require.NoError(t, err)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			errs := make(chan error, 4)
			for g := range 4 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 9))
					for {
						select {
						case <-stop:
							return
						default:
						}
						r, err := bal.Pick(balancer.Request{Hash: rng.Uint64(), HasHash: true, Attempt: g % 2})
						if err != nil {
							errs <- err
							return
						}
						d := balancer.DoneInfo{Latency: time.Millisecond}
						if rng.IntN(3) == 0 {
							d.Failure = balancer.Failure(1 + rng.IntN(2))
						}
						r.Done(d)
					}
				})
			}
			now := int64(1)
			var due []*balancer.Endpoint
			for i := range 300 {
				now += int64(100 * time.Millisecond)
				m.Advance(now)
				due = m.DueChecks(now, due[:0])
				for j, e := range due {
					var err error
					if (i+j)%4 == 0 {
						err = assert.AnError
					}
					m.CheckResult(e, err, now)
				}
				if i%25 == 0 {
					require.NoError(t, bal.UpdateAt(now, backends(10+i%5)))
				}
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, e := range bal.Endpoints() {
				assert.Zero(t, e.InFlight(), e.ID)
			}
		})
	}
}

// BenchmarkPickDone measures Balancer.Pick + Result.Done with and without
// a Monitor running outlier detection, serial and parallel.
func BenchmarkPickDone(b *testing.B) {
	for _, alg := range []struct {
		name string
		b    balancer.Builder
	}{{"round-robin", roundrobin.Config{}}, {"least-request", leastconn.Config{}}, {"maglev", maglev.Config{}}} {
		for _, outlier := range []bool{false, true} {
			for _, parallel := range []bool{false, true} {
				name := fmt.Sprintf("%s/outlier=%v/parallel=%v", alg.name, outlier, parallel)
				b.Run(name, func(b *testing.B) {
					bal := balancer.New(alg.b)
					if err := bal.Update(backends(100)); err != nil {
						b.Fatal(err)
					}
					if outlier {
						if _, err := health.New(bal, health.Config{Outlier: &health.OutlierDetection{}}, 0); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					if !parallel {
						for i := 0; b.Loop(); i++ {
							r, _ := bal.Pick(balancer.Request{Hash: uint64(i) * 0x9e3779b97f4a7c15, HasHash: true})
							r.Done(balancer.DoneInfo{})
						}
						return
					}
					b.RunParallel(func(pb *testing.PB) {
						for i := uint64(0); pb.Next(); i++ {
							r, _ := bal.Pick(balancer.Request{Hash: i * 0x9e3779b97f4a7c15, HasHash: true})
							r.Done(balancer.DoneInfo{})
						}
					})
				})
			}
		}
	}
}

// BenchmarkTransition measures what a health transition costs at 1,000
// endpoints: marking one endpoint down and publishing the Picker built
// without it, against an Update of the same set.
func BenchmarkTransition(b *testing.B) {
	for _, alg := range []struct {
		name string
		b    balancer.Builder
	}{{"round-robin", roundrobin.Config{}}, {"maglev", maglev.Config{}}} {
		b.Run(alg.name+"/update", func(b *testing.B) {
			bal := balancer.New(alg.b)
			sets := [][]balancer.Backend{backends(1000), backends(1000)[1:]}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := bal.Update(sets[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg.name+"/transition", func(b *testing.B) {
			bal := balancer.New(alg.b)
			if err := bal.Update(backends(1000)); err != nil {
				b.Fatal(err)
			}
			m, err := health.New(bal, health.Config{Active: &health.ActiveConfig{UnhealthyThreshold: 1, HealthyThreshold: 1}}, 1)
			if err != nil {
				b.Fatal(err)
			}
			e := bal.Endpoints()[0]
			errs := []error{assert.AnError, nil}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m.DueChecks(int64(i+1)*int64(time.Hour), nil)
				m.CheckResult(e, errs[i%2], int64(i+1)*int64(time.Hour))
			}
		})
	}
}
