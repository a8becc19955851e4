package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	sc.Algorithms = []string{"round-robin", "maglev"}
	rep, err := Compare(sc, Options{})
	require.NoError(t, err)
	rr, mg := rep.Results[0], rep.Results[1]
	require.Positive(t, mg.Failed)
	// Maglev sends a session's requests to one pod, so when it dies they
	// all fail, but they are still offered: both algorithms see about the
	// same number of requests.
	assert.InEpsilon(t, rr.Requests, mg.Requests, 0.01)
}
