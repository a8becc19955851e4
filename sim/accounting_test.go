package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/sim/trace"
)

// An overloaded scenario, 2,000 req/s offered to pods that serve 500:
// every request is accounted for (succeeded, failed or unfinished), the
// unfinished ones count in the failure rate, the tail percentiles they
// reach are lower bounds, and the overload is reported.
func TestOverloadAccounting(t *testing.T) {
	sc := queueing(5, 400, 10*time.Millisecond, 20*time.Second, "round-robin")
	sc.Drain = Duration(5 * time.Second)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	require.Equal(t, r.Requests, r.Succeeded+r.Failed+r.Unfinished)
	// 20 s at 2,000 req/s, served at 500 req/s for 25 s: about 27,500
	// requests are left.
	assert.InDelta(t, 27_500, r.Unfinished, 2_000)
	assert.InDelta(t, float64(r.Failed+r.Unfinished)/float64(r.Requests), r.FailureRate, 1e-12)
	assert.Greater(t, r.FailureRate, 0.6)
	for _, name := range []string{"p50", "p90", "p99", "p999", "mean", "max"} {
		assert.True(t, r.Latency.Bound(name), name)
	}
	assert.True(t, r.LatencyCDF[len(r.LatencyCDF)-1].AtLeast)
	assert.InDelta(t, 1, r.Overloaded, 1e-9)
	assert.InDelta(t, 4, r.Load, 0.2)
	assert.InDelta(t, 4, r.PeakLoad, 0.5)
}

// In a scenario well within capacity the drain lets every request finish:
// nothing is unfinished, no figure is a bound, and no window is
// overloaded.
func TestDrainFinishesEverything(t *testing.T) {
	sc := queueing(10, 50, 10*time.Millisecond, 20*time.Second, "least-request")
	r, err := Run(sc, mustAlg(t, "least-request"), Options{})
	require.NoError(t, err)
	require.Zero(t, r.Unfinished)
	require.Equal(t, r.Requests, r.Succeeded+r.Failed)
	assert.Empty(t, r.Latency.AtLeast)
	assert.Zero(t, r.Overloaded)
	assert.InDelta(t, 0.5, r.Load, 0.05)
}

// A request's percentile is a bound only from the youngest unfinished
// request's age up: a short drain leaves a few requests of a slow tail
// unfinished, so the median is exact while the maximum is a bound.
func TestBoundsOnlyWhereReached(t *testing.T) {
	sc := queueing(10, 50, 10*time.Millisecond, 20*time.Second, "round-robin")
	sc.Deployment.Template.ServiceTime = Dist{Distribution: "pareto", Mean: Duration(10 * time.Millisecond), Alpha: 1.2}
	sc.Drain = Duration(50 * time.Millisecond)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	require.Positive(t, r.Unfinished)
	assert.False(t, r.Latency.Bound("p50"))
	assert.True(t, r.Latency.Bound("max"))
}

// Common random numbers: with a single pod every algorithm must send every
// request to it, so the runs of one seed are the same run, whatever the
// algorithm's own randomness.
func TestCommonRandomNumbers(t *testing.T) {
	sc := queueing(1, 70, 10*time.Millisecond, 20*time.Second, "")
	sc.Workload.Sessions = Sessions{Requests: 5, ThinkTime: Exp(100 * time.Millisecond)}
	sc.Workload.Rate = 60
	sc.Algorithms = nil
	rep, err := Compare(sc, Options{})
	require.NoError(t, err)
	first := rep.Results[0]
	for _, r := range rep.Results[1:] {
		assert.Equal(t, first.Requests, r.Requests, r.Algorithm)
		assert.Equal(t, first.Latency, r.Latency, r.Algorithm)
	}

	// With many pods and churn the algorithms differ, but the workload
	// does not: the same sessions arrive, and the same pods come and go.
	// (How many requests the sessions send before the end depends on how
	// fast they are served.)
	sc = short(t, "rolling-update")
	rep, err = Compare(sc, Options{})
	require.NoError(t, err)
	first = rep.Results[0]
	for _, r := range rep.Results[1:] {
		assert.Equal(t, first.Sessions, r.Sessions, r.Algorithm)
		assert.InEpsilon(t, first.Requests, r.Requests, 0.01, r.Algorithm)
		assert.Equal(t, first.Pods, r.Pods, r.Algorithm)
		assert.Equal(t, first.Changes, r.Changes, r.Algorithm)
	}
}

// A session goes on after a failed request: its client sends the rest,
// so an outage costs the requests it fails, not every request the
// sessions hit by it would have sent afterwards.
func TestSessionsOutliveFailures(t *testing.T) {
	sc, err := BuiltinScenario("crash-loop")
	require.NoError(t, err)
	sc.Duration = Duration(40 * time.Second)
	sc.Workload.Sessions = Sessions{Requests: 20, ThinkTime: Exp(200 * time.Millisecond)}
	sc.Algorithms = named("round-robin", "maglev")
	rep, err := Compare(sc, Options{})
	require.NoError(t, err)
	rr, mg := rep.Results[0], rep.Results[1]
	require.Positive(t, mg.Failed)
	// Maglev sends a session's requests to one pod, so when it dies they
	// all fail, but they are still offered: both algorithms see about the
	// same number of requests.
	assert.InEpsilon(t, rr.Requests, mg.Requests, 0.01)
}

// Valid input that would run without bound is refused, quickly, by the
// work estimate, with a message that says what is too big.
func TestWorkBounded(t *testing.T) {
	base := func() Scenario {
		return Scenario{Name: "big", Duration: Duration(90 * time.Second), Deployment: Deployment{Replicas: 50}, Workload: Workload{Rate: 1000}}
	}
	crashes := base()
	crashes.Churn = []Churn{{Crashes: &CrashAction{MTBF: 1}}}
	scale := base()
	scale.Churn = []Churn{{Scale: &ScaleAction{Replicas: 100_000, Step: 1, Interval: 1}}}
	rate := base()
	rate.Workload.Rate = 1e8
	century := base()
	century.Deployment.Replicas = 0
	century.TraceEvents = []trace.Event{
		{At: 0, Kind: trace.Add, Endpoint: "a"}, {At: 0, Kind: trace.Ready, Endpoint: "a"},
		{At: 876_576 * time.Hour, Kind: trace.Remove, Endpoint: "a"},
	}
	century.Duration = Duration(876_576*time.Hour + 30*time.Second)
	flood := base()
	flood.Workload.Rate = 90_000 // 50 pods serve 5,000 a second: the queues would hold millions
	flood.Duration = Duration(300 * time.Second)
	for _, tc := range []struct {
		name string
		sc   Scenario
		want string
	}{
		{"crashes", crashes, "pod crashes (mtbf 1ns)"},
		{"scale", scale, "scale steps over up to 100000 pods"},
		{"rate", rate, "requests (1m30s at 1e+08 req/s)"},
		{"century", century, "3 trace events over 876576h0m0s"},
		{"flood", flood, "hold about 2.55e+07 requests in its queues"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Compare(tc.sc, Options{})
			require.ErrorIs(t, err, ErrTooBig)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, time.Since(start), 10*time.Second, "refused at once, not run")
		})
	}
}

// The estimate is close to what a run does: within a factor of two of
// the requests simulated, for the default scenario.
func TestWorkEstimate(t *testing.T) {
	sc, err := BuiltinScenario(DefaultScenario)
	require.NoError(t, err)
	sc.Algorithms = named("round-robin", "maglev")
	w, err := EstimateWork(sc, Options{Runs: 2})
	require.NoError(t, err)
	assert.Equal(t, 4, w.Runs)
	rep, err := Compare(sc, Options{Runs: 2})
	require.NoError(t, err)
	var reqs float64
	for _, s := range rep.Summary {
		reqs += s.Metrics["requests"].Mean * 2
	}
	assert.InEpsilon(t, reqs, w.Requests, 0.1)
	// Maglev's builds at every endpoint change weigh more than requests
	// here, but not by orders of magnitude (they are timed: not under the
	// race detector).
	if !raceEnabled {
		assert.Less(t, w.Total(), 20*reqs) // 10x failed on a busy day at 10.7x
	}
	assert.Greater(t, w.Churn, 0.0)
}

// With RatePerEndpoint the offered rate follows the endpoint set, so the
// load per pod stays where it was set while a trace grows and shrinks the
// set; TraceSpeed plays the trace faster.
func TestRateFollowsEndpoints(t *testing.T) {
	var events []trace.Event
	add := func(at time.Duration, n int, kind trace.Kind) {
		for i := range n {
			if kind == trace.Ready {
				events = append(events, trace.Event{At: at, Kind: trace.Add, Endpoint: fmt.Sprintf("p%d", i)})
			}
			events = append(events, trace.Event{At: at, Kind: kind, Endpoint: fmt.Sprintf("p%d", i)})
		}
	}
	add(0, 4, trace.Ready)
	events = append(events, trace.Event{At: 100 * time.Second, Kind: trace.Add, Endpoint: "q"}, trace.Event{At: 100 * time.Second, Kind: trace.Ready, Endpoint: "q"})
	add(200*time.Second, 2, trace.Remove)
	sc := Scenario{
		Name: "follow", Duration: Duration(30 * time.Second), Window: Duration(time.Second),
		TraceEvents: events, TraceSpeed: 10,
		Workload: Workload{RatePerEndpoint: 40},
	}
	sc.Deployment.Template.ServiceTime = Exp(10 * time.Millisecond)
	r, err := Run(sc, mustAlg(t, "least-request"), Options{})
	require.NoError(t, err)
	require.EqualValues(t, 2, r.Changes, "both changes fall within 30s at ten times the speed")
	assert.Equal(t, 3, r.MinEndpoints)
	assert.Equal(t, 5, r.MaxEndpoints)
	assert.Zero(t, r.Overloaded)
	assert.InDelta(t, 0.4, r.Load, 0.03)
	// 4 pods for 10s, 5 for 10s, 3 for 10s, at 40 req/s each.
	assert.InEpsilon(t, 40*(4*10+5*10+3*10), r.Requests, 0.05)
}

// The offered requests of a stepped rate are integrated exactly, over any
// span.
func TestWorkloadIntegral(t *testing.T) {
	w := Workload{Rate: 100, Steps: []RateStep{{At: Duration(10 * time.Second), Rate: 300}, {At: Duration(20 * time.Second), Rate: 0}}}
	s := time.Second
	assert.InDelta(t, 1000, w.integral(0, 10*s), 1e-9)
	assert.InDelta(t, 500+1500, w.integral(5*s, 15*s), 1e-9)
	assert.InDelta(t, 4000, w.integral(0, 60*s), 1e-9)
	assert.InDelta(t, 0, w.integral(25*s, 60*s), 1e-9)
	assert.InDelta(t, 40, w.expected(60*s, 0)/100, 1e-9)
}

// The report says when Maglev's table is too small for the endpoints, and
// suggests a size; and that a ratio below the optimum is sampling noise.
func TestNotes(t *testing.T) {
	sc := Scenario{Name: "wide", Duration: Duration(2 * time.Second), Deployment: Deployment{Replicas: 700},
		Workload: Workload{Rate: 2000}, Algorithms: named("maglev", "round-robin")}
	rep, err := Compare(sc, Options{})
	require.NoError(t, err)
	assert.Contains(t, rep.Notes, "one run: the figures carry no confidence interval, and differences smaller than a run's noise look real; --runs 5 or more gives 95% intervals")
	found := false
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "maglev: a table of 65537 slots is small for 700 endpoints") {
			found = true
			assert.Contains(t, n, "maglev.Config{TableSize: 70001} fits")
		}
		assert.NotContains(t, n, "round-robin: a table")
	}
	assert.True(t, found, rep.Notes)

	rep = &Report{Runs: 2, Summary: []*Summary{{Algorithm: "maglev", Metrics: map[string]*Estimate{"keys_moved_ratio": {Mean: 0.98}}}}}
	assert.Contains(t, strings.Join(notes(rep, nil, [][]*Result{{{Algorithm: "maglev"}}}), "\n"), "x optimum below 1 (maglev 0.980)")
}

// A caller compares its own Builder with the built-in ones through
// Options.Algorithms; the same Builder under another name gives the same
// figures, run for run.
func TestCustomAlgorithms(t *testing.T) {
	sc := short(t, "steady")
	builtin := mustAlg(t, "least-request")
	mine := Algorithm{Name: "my-p2c", New: func(src rand.Source) balancer.Builder { return leastconn.Config{Rand: src} }}
	rep, err := Compare(sc, Options{Algorithms: []Algorithm{builtin, mine}, Runs: 2})
	require.NoError(t, err)
	require.Len(t, rep.Summary, 2)
	assert.Equal(t, "my-p2c", rep.Summary[1].Algorithm)
	assert.Equal(t, rep.Summary[0].Metrics["p99_ms"].Values, rep.Summary[1].Metrics["p99_ms"].Values)

	_, err = Compare(sc, Options{Algorithms: []Algorithm{mine, mine}})
	require.ErrorContains(t, err, `algorithm "my-p2c" is named twice`)
	_, err = Compare(sc, Options{Algorithms: []Algorithm{{Name: "nothing"}}})
	require.ErrorContains(t, err, "needs a Name and a New")
}

// Replications run in parallel, yet the report is the same however many
// run at once; the replications' seeds are derived from the scenario's.
func TestReplicationsDeterministic(t *testing.T) {
	sc := short(t, "steady")
	sc.Duration = Duration(10 * time.Second)
	render := func(par int) string {
		rep, err := Compare(sc, Options{Algorithms: []Algorithm{mustAlg(t, "random"), mustAlg(t, "maglev")}, Runs: 3, Parallel: par})
		require.NoError(t, err)
		var buf strings.Builder
		require.NoError(t, rep.WriteJSON(&buf))
		return buf.String()
	}
	one := render(1)
	require.Equal(t, one, render(4))
	rep, err := Compare(sc, Options{Algorithms: []Algorithm{mustAlg(t, "random")}, Runs: 3})
	require.NoError(t, err)
	assert.Equal(t, []uint64{sc.Seed, ReplicationSeed(sc.Seed, 1), ReplicationSeed(sc.Seed, 2)}, rep.Seeds)
	assert.NotEqual(t, rep.Seeds[1], rep.Seeds[2])
	vals := rep.Summary[0].Metrics["p99_ms"].Values
	assert.NotEqual(t, vals[0], vals[1], "replications differ")
}
