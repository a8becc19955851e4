package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const healthYAML = `name: h
duration: 10s
deployment: {replicas: 4}
workload: {rate: 100}
proxies:
  replicas: 2
  healthCheck: {interval: 500ms, timeout: 200ms, jitter: 50ms, healthyThreshold: 1, unhealthyThreshold: 2}
  outlierDetection: {consecutive5xx: 3, baseEjectionTime: 5s, enforcingSuccessRate: 0, maxEjectionPercent: 50}
  panicThreshold: 0
  slowStart: {window: 20s, aggression: 2}
`

func TestHealthFieldsParse(t *testing.T) {
	sc, err := ParseScenario("h.yaml", []byte(healthYAML))
	require.NoError(t, err)
	require.NoError(t, sc.normalize())
	h := sc.health
	require.NotNil(t, h)
	assert.Equal(t, 500*time.Millisecond, h.Active.Interval)
	assert.Equal(t, 200*time.Millisecond, h.Active.Timeout)
	assert.Equal(t, 2, h.Active.UnhealthyThreshold)
	assert.Equal(t, 3, h.Outlier.Consecutive5xx)
	assert.Zero(t, h.Outlier.ConsecutiveGatewayFailure, "left out: zero, the health package's default")
	assert.Equal(t, 5*time.Second, h.Outlier.BaseEjectionTime)
	assert.Equal(t, -1.0, h.Outlier.EnforcingSuccessRate, "0 in a scenario (Envoy's words): detect, never eject")
	assert.Zero(t, h.Outlier.EnforcingConsecutive5xx)
	assert.Equal(t, -1.0, h.PanicThreshold, "0 in a scenario turns the panic threshold off")
	assert.Equal(t, 20*time.Second, h.SlowStart.Window)
	assert.Equal(t, 2.0, h.SlowStart.Aggression)

	// An empty block is Envoy's defaults.
	sc, err = ParseScenario("h.yaml", []byte("duration: 1s\ndeployment: {replicas: 1}\nworkload: {rate: 1}\nproxies: {outlierDetection: {}}\n"))
	require.NoError(t, err)
	require.NoError(t, sc.normalize())
	assert.Equal(t, OutlierDetection{}, *sc.Proxies.OutlierDetection)
	assert.Zero(t, sc.health.Outlier.Interval, "every default")
	assert.Zero(t, sc.health.PanicThreshold, "the default, 50")
	assert.Nil(t, sc.health.Active)

	sc, err = ParseScenario("h.yaml", []byte("duration: 1s\ndeployment: {replicas: 1}\nworkload: {rate: 1}\n"))
	require.NoError(t, err)
	require.NoError(t, sc.normalize())
	assert.Nil(t, sc.health, "no health feature: none")
}

func TestHealthFieldErrors(t *testing.T) {
	for _, tc := range []struct{ field, value, want string }{
		{"healthCheck", "{interval: 0s}", "proxies.healthCheck.interval: must be above 0"},
		{"healthCheck", "{unhealthyThreshold: 0}", "proxies.healthCheck.unhealthyThreshold: 0: must be at least 1"},
		{"healthCheck", "{healthyThreshold: 5000}", "proxies.healthCheck"},
		{"healthCheck", "{interval: 1s, jitter: 2s}", "proxies.healthCheck"},
		{"outlierDetection", "{consecutive5xx: 0}", "proxies.outlierDetection.consecutive5xx: 0: must be from 1"},
		{"outlierDetection", "{maxEjectionPercent: 101}", "proxies.outlierDetection.maxEjectionPercent: 101: must be a percentage from above 0 to 100"},
		{"outlierDetection", "{maxEjectionPercent: .nan}", "proxies.outlierDetection.maxEjectionPercent: NaN"},
		{"outlierDetection", "{interval: 0s}", "proxies.outlierDetection.interval: 0s: must be above 0"},
		{"outlierDetection", "{successRateStdevFactor: -1}", "proxies.outlierDetection.successRateStdevFactor"},
		{"outlierDetection", "{enforcingSuccessRate: 200}", "proxies.outlierDetection.enforcingSuccessRate"},
		{"panicThreshold", "150", "proxies.panicThreshold: 150 is not a percentage"},
		{"panicThreshold", "-1", "proxies.panicThreshold"},
		{"slowStart", "{}", "proxies.slowStart.window: required"},
		{"slowStart", "{window: 10s, minWeightPercent: 0}", "proxies.slowStart.minWeightPercent: 0: must be above 0"},
		{"slowStart", "{window: 10s, aggression: .inf}", "proxies.slowStart.aggression"},
		{"outlierDetection", "{consecutive5xx: five}", "consecutive5xx"},
	} {
		y := "duration: 1s\ndeployment: {replicas: 1}\nworkload: {rate: 1}\nproxies:\n  " + tc.field + ": " + tc.value + "\n"
		_, err := ParseScenario("bad.yaml", []byte(y))
		require.Error(t, err, y)
		assert.ErrorIs(t, err, ErrScenario)
		assert.Contains(t, err.Error(), tc.want, y)
		assert.True(t, strings.HasPrefix(err.Error(), "bad.yaml:5") || strings.HasPrefix(err.Error(), "bad.yaml:"), err.Error())
	}
}

// crashScenario is 10 pods crashing now and then, which Kubernetes notices
// only after 20s, behind 2 proxies.
func crashScenario() Scenario {
	sc := queueing(10, 40, 10*time.Millisecond, 60*time.Second, "round-robin")
	sc.Proxies.Replicas = 2
	sc.Window = Duration(time.Second)
	sc.Churn = []Churn{{At: at(5 * time.Second), Crashes: &CrashAction{MTBF: Duration(time.Minute), RestartDelay: Duration(10 * time.Second), DetectionDelay: Duration(20 * time.Second)}}}
	return sc
}

// Active checks take a crashed pod out of a proxy's rotation within fall
// x interval of the crash, long before Kubernetes notices: the requests
// refused fall accordingly, and the detection time says so.
func TestActiveChecksTakeCrashedPodsOut(t *testing.T) {
	sc := crashScenario()
	interval, fall := 500*time.Millisecond, 2
	sc.Proxies.HealthCheck = &HealthCheck{Interval: ptrTo(Duration(interval)), UnhealthyThreshold: &fall}
	rep, err := Compare(sc, Options{})
	require.NoError(t, err)
	require.Len(t, rep.Results, 2)
	on, off := rep.Results[0], rep.Results[1]
	require.Equal(t, "round-robin (no health)", off.Algorithm)
	require.Positive(t, on.Crashes)
	require.NotNil(t, on.Health)
	assert.Nil(t, off.Health)
	h := on.Health
	assert.EqualValues(t, 2*on.Crashes, h.Detections, "each proxy detects each crash once")
	assert.LessOrEqual(t, h.DetectMean.Std(), time.Duration(fall)*interval+probeRTT, "the first check within an interval, then fall-1 more")
	assert.Zero(t, h.Ejections)
	assert.Positive(t, h.Probes)
	assert.Less(t, on.FailureRate, off.FailureRate/5, "on %v, off %v", on.FailureRate, off.FailureRate)
}

// Outlier detection ejects a pod that answers errors after five in a row
// per proxy, and ejects it again, for longer, when it returns still
// failing.
func TestOutlierEjectsFailingPod(t *testing.T) {
	sc := queueing(10, 30, 10*time.Millisecond, 100*time.Second, "round-robin")
	sc.Proxies.Replicas = 2
	sc.Window = Duration(time.Second)
	sc.Churn = []Churn{{At: at(5 * time.Second), Fault: &FaultAction{Kind: FaultFail}}}
	sc.Proxies.OutlierDetection = &OutlierDetection{}
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	require.NotNil(t, r.Health)
	// Ejected at 5s for 30s, back at 35s and ejected for 60s, back at
	// 95s and ejected for 90s: three ejections a proxy, five failures
	// each.
	assert.Equal(t, 6, r.Health.Ejections)
	assert.EqualValues(t, 6*5, r.ToFaulty)
	assert.Equal(t, 2, r.Health.Detections)
	assert.Less(t, r.Health.DetectMean.Std(), time.Second)
	assert.Zero(t, r.Health.HealthyEjections)
}

// Health runs are deterministic, whatever the parallelism.
func TestHealthDeterministic(t *testing.T) {
	sc := short(t, "black-hole")
	sc.Algorithms = named("round-robin", "peak-ewma", "maglev")
	render := func(par int) string {
		rep, err := Compare(sc, Options{Runs: 2, Parallel: par})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, rep.WriteJSON(&buf))
		return buf.String()
	}
	assert.Equal(t, render(1), render(4))
}

// Slow start for hash pickers costs few extra key moves over a rolling
// update, against the same run without it: within 1.1x.
func TestHashSlowStartKeyMoves(t *testing.T) {
	sc := short(t, "rolling-update-warmup")
	sc.Duration = Duration(120 * time.Second)
	sc.Deployment.Replicas = 20
	sc.Workload.Rate = 300
	sc.Algorithms = named("ring-hash", "maglev")
	rep, err := Compare(sc, Options{Runs: 2})
	require.NoError(t, err)
	for i := 0; i < len(rep.Summary); i += 2 {
		on, off := rep.Summary[i].Metrics["keys_moved"].Mean, rep.Summary[i+1].Metrics["keys_moved"].Mean
		assert.Less(t, on, 1.1*off, "%s: %.3f against %.3f", rep.Summary[i].Algorithm, on, off)
		assert.Greater(t, on, 0.9*off, rep.Summary[i].Algorithm)
	}
}

func ptrTo[T any](v T) *T { return &v }
