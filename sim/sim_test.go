package sim

import (
	"bytes"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/config"
	"github.com/lbkit/lbkit/sim/trace"
)

func short(t *testing.T, name string) Scenario {
	t.Helper()
	sc, err := BuiltinScenario(name)
	require.NoError(t, err)
	sc.Duration = Duration(min(sc.Duration.Std(), 40*time.Second))
	return sc
}

func TestDeterministic(t *testing.T) {
	sc := short(t, "rolling-update")
	sc.Algorithms = named("round-robin", "least-request", "peak-ewma", "ring-hash-bounded", "maglev")
	render := func(sc Scenario) []byte {
		rep, err := Compare(sc, Options{})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, rep.WriteJSON(&buf))
		return buf.Bytes()
	}
	a, b := render(sc), render(sc)
	require.Equal(t, string(a), string(b), "the same seed must give byte-identical reports")
	sc.Seed = 99
	assert.NotEqual(t, string(a), string(render(sc)), "another seed gives another run")
}

// Timing picks perturbs nothing: with every algorithm, a run with pick
// timing gives the same report as one without, but for PickNanos.
func TestPickCostDoesNotPerturb(t *testing.T) {
	sc := short(t, "rolling-update")
	render := func(cost bool) string {
		rep, err := Compare(sc, Options{PickCost: cost})
		require.NoError(t, err)
		for _, r := range rep.Results {
			if cost {
				assert.Positive(t, r.PickNanos, r.Algorithm)
			}
			r.PickNanos = 0
		}
		for _, s := range rep.Summary {
			delete(s.Metrics, "pick_ns")
		}
		var buf bytes.Buffer
		require.NoError(t, rep.WriteJSON(&buf))
		return buf.String()
	}
	require.Equal(t, render(false), render(true))
}

func TestBuiltinScenariosRun(t *testing.T) {
	names := ScenarioNames()
	for _, want := range []string{"steady", "rolling-update", "scale-out", "crash-loop", "zone-drain", "hot-key", "slow-pods", "black-hole", "sticky-sessions", "zone-aware", "zone-skew", "zone-drain-aware"} {
		require.Contains(t, names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			sc := short(t, name)
			if raceEnabled {
				sc.Duration = Duration(min(sc.Duration.Std(), 25*time.Second)) // churn starts by 20s; what races is the same in a shorter run
			}
			sc.Algorithms = named("round-robin", "least-request", "ring-hash", "maglev-bounded")
			// The work estimate times Balancer.Update, which the race
			// detector slows tenfold: the limit is not what this tests.
			rep, err := Compare(sc, Options{PickCost: true, MaxWork: 1e12})
			require.NoError(t, err)
			if suffix := sc.BaselineSuffix(); suffix != "" {
				require.Len(t, rep.Results, 8, "each algorithm with its baseline")
				hc, _ := sc.Proxies.healthConfig()
				for i, r := range rep.Results {
					assert.Equal(t, i%2 == 1, strings.HasSuffix(r.Algorithm, suffix), r.Algorithm)
					assert.Equal(t, i%2 == 0 && hc != nil, r.Health != nil, r.Algorithm)
				}
			} else {
				require.Len(t, rep.Results, 4)
			}
			for _, r := range rep.Results {
				assert.Positive(t, r.Requests, r.Algorithm)
				assert.Positive(t, r.Succeeded, r.Algorithm)
				assert.LessOrEqual(t, r.Succeeded+r.Failed, r.Requests, r.Algorithm)
				assert.Positive(t, r.PickNanos, r.Algorithm)
				assert.NotEmpty(t, r.Windows, r.Algorithm)
				if name != "steady" && name != "hot-key" && name != "slow-pods" && name != "black-hole" && name != "zone-skew" {
					assert.Positive(t, r.Changes, "%s: churn publishes endpoint changes", r.Algorithm)
				}
			}
			var tbl bytes.Buffer
			require.NoError(t, rep.WriteTable(&tbl))
			assert.Contains(t, tbl.String(), "maglev-bounded")
		})
	}
}

// The disruption the simulator reports must be exactly what the pickers'
// own tables give for the same two endpoint sets.
func TestDisruptionMatchesPickers(t *testing.T) {
	for _, alg := range []string{"maglev", "ring-hash", "ring-hash-envoy"} {
		t.Run(alg, func(t *testing.T) {
			sc := Scenario{
				Name: "scale-in", Duration: Duration(20 * time.Second), Algorithms: named(alg),
				Deployment: Deployment{Replicas: 20},
				Workload:   Workload{Rate: 200, Keys: Keys{Count: 4096}},
				Proxies:    Proxies{Replicas: 1},
				Churn:      []Churn{{At: Duration(5 * time.Second), Scale: &ScaleAction{Replicas: 17}}},
			}
			a := mustAlg(t, alg)
			r, err := Run(sc, a, Options{DisruptionKeys: 4096})
			require.NoError(t, err)
			require.Len(t, r.Events, 1)
			ev := r.Events[0]
			require.Len(t, ev.Removed, 3)
			assert.InDelta(t, 3.0/20, ev.Optimum, 1e-12)

			var before, after []balancer.Backend
			for i := 1; i <= 20; i++ {
				id := "10.1.0." + itoa(i) + ":8080"
				b := balancer.Backend{ID: id, Zone: "zone-a"}
				before = append(before, b)
				if !contains(ev.Removed, id) {
					after = append(after, b)
				}
			}
			pb, pa := buildPicker(t, a, before), buildPicker(t, a, after)
			ks := keySampler{count: 4096}
			moved := 0
			for k := range 4096 {
				if !samePick(pb, pa, ks.hashOf(uint64(k))) {
					moved++
				}
			}
			assert.Equal(t, float64(moved)/4096, ev.KeysMoved)
		})
	}
}

func buildPicker(t *testing.T, a Algorithm, set []balancer.Backend) balancer.Picker {
	b := balancer.New(a.New(balancer.NewSource(1)))
	require.NoError(t, b.Update(set))
	return b.Picker()
}

func itoa(i int) string { return strconv.Itoa(i) }

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestRollingUpdateFollowsKubernetes(t *testing.T) {
	sc := short(t, "rolling-update")
	sc.Deployment.Template.ReadinessDelay = Const(5 * time.Second)
	sc.Deployment.Template.PreStop = Duration(10 * time.Second)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Equal(t, 100, r.Pods, "every one of the 50 pods was replaced")
	// maxUnavailable 25% of 50 rounds down to 12, maxSurge rounds up to 13.
	assert.Equal(t, 50-12, r.MinEndpoints, "never fewer ready than replicas - maxUnavailable")
	assert.LessOrEqual(t, r.MaxEndpoints, 50+13, "never more than replicas + maxSurge")
	assert.Zero(t, r.Failed, "a preStop of 10s covers the proxies' propagation delay")

	// Without preStop a pod stops taking requests as soon as it is deleted,
	// while proxies still send to it until they learn: those fail.
	sc.Deployment.Template.PreStop = 0
	r, err = Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Positive(t, r.FailedBy[failRefused])
}

func TestCrashesFailRequests(t *testing.T) {
	sc, err := BuiltinScenario("crash-loop")
	require.NoError(t, err)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Positive(t, r.Crashes)
	assert.Positive(t, r.FailedBy[failRefused], "requests reach crashed pods until the probe notices")
	assert.Positive(t, r.FailedBy[failKilled], "requests in flight die with their pod")
}

func TestQueueLimit(t *testing.T) {
	sc := queueing(4, 150, 10*time.Millisecond, 10*time.Second, "round-robin")
	sc.Deployment.Template.QueueLimit = 5
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Positive(t, r.FailedBy[failQueueFull], "an overloaded pod rejects beyond its queue limit")
	assert.Less(t, r.Latency.Max.Std(), 200*time.Millisecond, "a bounded queue bounds latency")
}

func TestTraceReplay(t *testing.T) {
	events, err := trace.ReadCSV(strings.NewReader(`time,event,endpoint,weight,zone
0s,ready,10.0.0.1:80,,a
0s,ready,10.0.0.2:80,,a
0s,ready,10.0.0.3:80,,b
5s,add,10.0.0.4:80,,b
7s,ready,10.0.0.4:80
10s,unready,10.0.0.1:80
11s,remove,10.0.0.1:80
`))
	require.NoError(t, err)
	sc := Scenario{Name: "trace", Duration: Duration(20 * time.Second), TraceEvents: events,
		Workload: Workload{Rate: 300, Keys: Keys{Count: 1000}}, Proxies: Proxies{Replicas: 2}}
	r, err := Run(sc, mustAlg(t, "maglev"), Options{})
	require.NoError(t, err)
	assert.Equal(t, 4, r.Pods)
	assert.Zero(t, r.Failed)
	var removed, added []string
	for _, ev := range r.Events {
		removed = append(removed, ev.Removed...)
		added = append(added, ev.Added...)
	}
	assert.Contains(t, added, "10.0.0.4:80")
	assert.Contains(t, removed, "10.0.0.1:80")
	last := r.Windows[len(r.Windows)-1]
	assert.Equal(t, 3, last.Pods)
}

func TestBadScenarios(t *testing.T) {
	base := func() Scenario { return queueing(3, 10, time.Millisecond, time.Second, "random") }
	cases := map[string]func(*Scenario){
		"workload.rate":       func(s *Scenario) { s.Workload.Rate = -1 },
		"workload.rate ":      func(s *Scenario) { s.Workload.Rate = nanf() },
		"deployment.replicas": func(s *Scenario) { s.Deployment.Replicas = 0 },
		"duration":            func(s *Scenario) { s.Duration = 0 },
		"algorithms":          func(s *Scenario) { s.Algorithms = named("fastest") },
		"churn[0]":            func(s *Scenario) { s.Churn = []Churn{{}} },
		"churn[1].at": func(s *Scenario) {
			s.Churn = []Churn{{At: 5, Scale: &ScaleAction{Replicas: 2}}, {At: 1, Scale: &ScaleAction{Replicas: 3}}}
		},
		"deployment.template.preStop": func(s *Scenario) { s.Deployment.Template.PreStop = Duration(time.Hour) },
		"workload.keys.distribution":  func(s *Scenario) { s.Workload.Keys.Distribution = "pareto" },
		"proxies.propagationDelay":    func(s *Scenario) { s.Proxies.PropagationDelay = Dist{Distribution: "gauss", Mean: 1} },
		"deployment.strategy.rollingUpdate": func(s *Scenario) {
			s.Deployment.Strategy.RollingUpdate = RollingUpdate{MaxSurge: "0", MaxUnavailable: "0%"}
		},
	}
	for path, mutate := range cases {
		sc := base()
		mutate(&sc)
		_, err := Compare(sc, Options{})
		require.ErrorIs(t, err, ErrScenario, path)
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%s: %v", path, err)
		assert.True(t, strings.HasPrefix(fe.Path, strings.TrimSpace(path)), "%s: got path %s", path, fe.Path)
	}
	_, err := Compare(Scenario{Duration: 1, Algorithms: named("nope"), Deployment: Deployment{Replicas: 1}, Workload: Workload{Rate: 1}}, Options{})
	assert.ErrorContains(t, err, "valid: round-robin, random")
}

func nanf() float64 { var z float64; return z / z }

// A long run's memory is bounded by the pods, windows and updates, not by
// the number of requests: 10 million requests stay far below 500 MB.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10-million-request run; skipped with -short")
	}
	// Under the race detector, ten times slower, a tenth of the run: the
	// sampling goroutine and the run still race if they can.
	dur, want := 1430*time.Second, int64(9_900_000)
	if raceEnabled {
		dur, want = dur/10, want/10
	}
	sc := queueing(100, 70, 10*time.Millisecond, dur, "least-request")
	sc.Window = Duration(10 * time.Second)
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	})
	r, err := Run(sc, mustAlg(t, "least-request"), Options{})
	close(done)
	wg.Wait() // the sampler has stopped: peak is ours to read
	require.NoError(t, err)
	require.Greater(t, r.Requests, want)
	t.Logf("%d requests, peak heap in use %.1f MB", r.Requests, float64(peak)/1e6)
	assert.Less(t, peak, uint64(500<<20))
}

// BenchmarkSim measures simulated requests a second on one core: 100
// pods, power of two choices, no churn.
func BenchmarkSim(b *testing.B) {
	sc := queueing(100, 70, 10*time.Millisecond, 100*time.Second, "least-request")
	algs, err := SelectAlgorithms([]string{"least-request"})
	if err != nil {
		b.Fatal(err)
	}
	alg := algs[0]
	var reqs int64
	start := time.Now()
	for b.Loop() {
		r, err := Run(sc, alg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		reqs += r.Requests
	}
	b.ReportMetric(float64(reqs)/time.Since(start).Seconds(), "req/s")
}

// Published endpoint sets are dropped once every proxy has moved past
// them, so a long run with constant churn keeps only a few.
func TestVersionsBounded(t *testing.T) {
	sc, err := BuiltinScenario("crash-loop")
	require.NoError(t, err)
	sc.Duration = Duration(1000 * time.Second)
	sc.Workload.Rate = 100
	require.NoError(t, sc.normalize())
	r, err := newRun(&sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	r.loop()
	require.NoError(t, r.err)
	assert.Greater(t, r.m.changes, int64(300), "the run churns")
	assert.Less(t, len(r.versions.sets), 20, "old endpoint sets are dropped")
}

// A proxy that retries sends a request that failed on a dead pod to
// another endpoint: with hash pickers that takes Request.Attempt, which
// must land elsewhere.
func TestRetries(t *testing.T) {
	sc, err := BuiltinScenario("crash-loop")
	require.NoError(t, err)
	for _, alg := range []string{"round-robin", "ring-hash", "maglev", "least-request"} {
		sc.Proxies.Retries = 0
		without, err := Run(sc, mustAlg(t, alg), Options{})
		require.NoError(t, err)
		sc.Proxies.Retries = 2
		with, err := Run(sc, mustAlg(t, alg), Options{})
		require.NoError(t, err)
		t.Logf("%s: failed %d without retries, %d with 2 (%d retries)", alg, without.Failed, with.Failed, with.Retries)
		assert.Positive(t, with.Retries, alg)
		assert.Less(t, with.Failed*10, without.Failed, "%s: two retries avoid at least 90%% of the failures", alg)
	}
	sc.Proxies.Retries = 11
	_, err = Run(sc, mustAlg(t, "maglev"), Options{})
	require.ErrorIs(t, err, ErrScenario)
}

// named returns the configurations of the given algorithm names, for
// Scenario.Algorithms.
func named(names ...string) []config.Algorithm {
	out := make([]config.Algorithm, len(names))
	for i, n := range names {
		out[i] = config.Algorithm{Name: n}
	}
	return out
}
