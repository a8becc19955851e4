package sim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultScenario is two pods of one worker at half load behind one proxy,
// windows of 100ms, with the given churn.
func faultScenario(churn ...Churn) Scenario {
	sc := queueing(2, 50, 10*time.Millisecond, 8*time.Second, "round-robin")
	sc.Window = Duration(100 * time.Millisecond)
	sc.Churn = churn
	return sc
}

func at(d time.Duration) Duration { return Duration(d) }

// faultLog records, at the end of every virtual instant where it
// changed, how many faults and crashes began and which ready pods are
// faulty, and how. (When a deleted pod exits depends on the algorithm, which lets it
// drain: the log leaves such pods out.)
type faultLog []string

func (l *faultLog) record(r *run) {
	if r.now > r.sc.Duration.Std() {
		return // the drain: how long it lasts depends on the algorithm
	}
	now := []string{fmt.Sprint(r.m.faults, "/", r.m.crashes)}
	for _, pi := range r.readyBySerial(func(p *pod) bool { return p.fault != faultNone }) {
		now = append(now, fmt.Sprintf("%s:%d", r.pods[pi].id, r.pods[pi].fault))
	}
	s := strings.Join(now, ",")
	if n := len(*l); n == 0 || !strings.HasSuffix((*l)[n-1], " "+s) {
		*l = append(*l, r.now.String()+" "+s)
	}
}

// Common random numbers: which pods fault, how and when is the same for
// every algorithm, through a rolling update that replaces every pod (and
// reuses their slots in an order the algorithm decides, as they drain).
func TestFaultsCommonRandomNumbers(t *testing.T) {
	sc := short(t, "rolling-update")
	sc.Duration = Duration(30 * time.Second)
	sc.Churn = append(sc.Churn[:0:0],
		Churn{At: at(time.Second), RollingUpdate: &RolloutAction{}},
		Churn{At: at(12 * time.Second), Faults: &FaultsAction{Kind: FaultHang, MTBF: Duration(40 * time.Second), Duration: Exp(3 * time.Second)}},
		Churn{At: at(14 * time.Second), Fault: &FaultAction{Kind: FaultFail, Pods: "20%", Duration: Duration(10 * time.Second)}},
		Churn{At: at(15 * time.Second), Crashes: &CrashAction{MTBF: Duration(time.Minute), RestartDelay: Duration(2 * time.Second), DetectionDelay: Duration(time.Second)}},
	)
	sc.Proxies.Timeout = Duration(time.Second)
	var logs []faultLog
	var faults []int64
	for _, alg := range []string{"round-robin", "least-request", "peak-ewma", "maglev-bounded"} {
		var l faultLog
		r, err := Run(sc, mustAlg(t, alg), Options{instant: l.record})
		require.NoError(t, err)
		logs = append(logs, l)
		faults = append(faults, r.Faults)
		assert.Positive(t, r.ToFaulty, alg)
	}
	require.Greater(t, len(logs[0]), 10, "faults begin and end: %v", logs[0])
	assert.Greater(t, faults[0], int64(10+3))
	for i := range logs[1:] {
		assert.Equal(t, logs[0], logs[i+1])
		assert.Equal(t, faults[0], faults[i+1])
	}
}

// A failing pod answers every request it is sent with an error after its
// fail latency, taking no worker, and serves again once it recovers:
// with every pod failing, the failures of each window are exactly the
// arrivals of the window the latency before.
func TestFailFast(t *testing.T) {
	sc := faultScenario(Churn{At: at(2 * time.Second), Fault: &FaultAction{Kind: FaultFail, Pods: "100%", Duration: Duration(2 * time.Second), Latency: Duration(500 * time.Millisecond)}})
	r, err := Run(sc, mustAlg(t, "least-request"), Options{})
	require.NoError(t, err)
	require.EqualValues(t, 2, r.Faults)
	w := r.Windows
	for k := range w {
		switch {
		case k < 25 || k >= 45: // before the first error, and after the last
			assert.Zero(t, w[k].Failed, "window %d", k)
		default:
			assert.Equal(t, w[k-5].Requests, w[k].Failed, "window %d fails what arrived 500ms before", k)
		}
		if k >= 45 {
			assert.Positive(t, w[k].Succeeded, "window %d: recovered", k)
		}
	}
	assert.Equal(t, r.ToFaulty, r.FailedBy[failUpstream])
	assert.Equal(t, r.Failed, r.FailedBy[failUpstream])
	assert.Equal(t, r.Requests, r.Succeeded+r.Failed)
	assert.Zero(t, r.TimedOut)
	assert.Less(t, r.Latency.Max.Std(), 300*time.Millisecond, "an error answer is no latency sample")
}

// Fail-fast would be a black hole for load-aware pickers, a failing pod
// that looks idle, but a failure counts as load (balancer.Endpoint.Load):
// at 60% load, least request sends one failing pod of ten far less than
// round robin's tenth.
func TestFailFastDoesNotDrawLoadAware(t *testing.T) {
	sc := queueing(10, 30, 20*time.Millisecond, 20*time.Second, "")
	sc.Algorithms = nil
	sc.Churn = []Churn{{At: at(2 * time.Second), Fault: &FaultAction{Kind: FaultFail}}}
	rr, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	lr, err := Run(sc, mustAlg(t, "least-request"), Options{})
	require.NoError(t, err)
	assert.InDelta(t, 0.09, float64(rr.ToFaulty)/float64(rr.Requests), 0.005, "round robin: a tenth of 18s of 20")
	assert.Less(t, float64(lr.ToFaulty)/float64(lr.Requests), 0.01)
}

// A hung pod holds what it is sent until the proxy's timeout fails it,
// exactly at the timeout, once; requests after its recovery are served.
func TestHangTimesOut(t *testing.T) {
	sc := faultScenario(Churn{At: at(2 * time.Second), Fault: &FaultAction{Kind: FaultHang, Pods: "2", Duration: Duration(3 * time.Second)}})
	sc.Proxies.Timeout = Duration(700 * time.Millisecond)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	w := r.Windows
	for k := range w {
		switch {
		case k < 27 || k >= 57:
			assert.Zero(t, w[k].Failed, "window %d", k)
		default:
			assert.Equal(t, w[k-7].Requests, w[k].Failed, "window %d times out what arrived 700ms before", k)
		}
	}
	assert.Positive(t, r.TimedOut)
	assert.Equal(t, r.ToFaulty, r.TimedOut)
	assert.Equal(t, r.Failed, r.TimedOut)
	assert.Equal(t, r.FailedBy[failTimeout], r.TimedOut)
	assert.Equal(t, r.Requests, r.Succeeded+r.Failed)
	assert.Zero(t, r.Unfinished)
	// Timed-out requests count in the latency distribution at the timeout.
	assert.InDelta(t, 700*time.Millisecond, r.Latency.Max.Std(), float64(time.Millisecond))
	assert.Empty(t, r.Latency.AtLeast)
}

// A request the pod takes too long to serve times out at the proxy,
// which calls Done once; when the pod finishes it later, that counts
// neither as a success nor again as a failure, and no endpoint is left
// with a request in flight.
func TestTimeoutCountedOnce(t *testing.T) {
	sc := queueing(3, 5, 0, 5*time.Second, "least-request")
	sc.Deployment.Template.ServiceTime = Const(400 * time.Millisecond)
	sc.Proxies.Timeout = Duration(300 * time.Millisecond)
	require.NoError(t, sc.normalize())
	r, err := newRun(&sc, mustAlg(t, "least-request"), Options{})
	require.NoError(t, err)
	r.loop()
	require.NoError(t, r.err)
	res := r.m.result(r)
	require.Positive(t, res.Requests)
	assert.Zero(t, res.Succeeded)
	assert.Equal(t, res.Requests, res.TimedOut)
	assert.Equal(t, res.Requests, res.Failed)
	assert.Zero(t, res.ToFaulty)
	var done, failures uint64
	for _, e := range r.proxies[0].bal.Endpoints() {
		assert.Zero(t, e.InFlight(), e.ID)
		done += e.Completed()
		failures += e.Failures()
	}
	assert.EqualValues(t, res.Requests, done, "Done once a request")
	assert.EqualValues(t, res.Requests, failures)
	assert.InDelta(t, 300*time.Millisecond, res.Latency.P50.Std(), float64(time.Millisecond))
}

// Without a timeout, what a hung pod holds stays until the drain ends,
// unfinished, at its age then.
func TestHangWithoutTimeout(t *testing.T) {
	sc := faultScenario(Churn{At: at(time.Second), Fault: &FaultAction{Kind: FaultHang}})
	sc.Duration = Duration(5 * time.Second)
	sc.Drain = Duration(2 * time.Second)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Positive(t, r.Unfinished)
	assert.Equal(t, r.ToFaulty, r.Unfinished)
	assert.Zero(t, r.Failed)
	assert.Zero(t, r.TimedOut)
	assert.Equal(t, r.Requests, r.Succeeded+r.Unfinished)
	// The oldest hung request came just after 1s and waited to 7s.
	assert.InDelta(t, 6*time.Second, r.Latency.Max.Std(), float64(50*time.Millisecond))
	assert.True(t, r.Latency.Bound("max"))
	assert.InDelta(t, 0.4, r.FailureRate, 0.05, "round robin sends half to the hung pod, for 4s of 5")
}

// Random faults come and go: each pod faults at the rate MTBF says, for
// the time Duration says, and every fault ends.
func TestRandomFaultsRecover(t *testing.T) {
	sc := queueing(20, 20, 10*time.Millisecond, 200*time.Second, "round-robin")
	sc.Churn = []Churn{{Faults: &FaultsAction{Kind: FaultFail, MTBF: Duration(40 * time.Second), Duration: Const(10 * time.Second), Until: Duration(180 * time.Second)}}}
	faulty, samples := 0, 0
	var l faultLog
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{instant: func(r *run) {
		l.record(r)
		for i := range r.pods {
			samples++
			if r.pods[i].fault != faultNone {
				faulty++
			}
		}
	}})
	require.NoError(t, err)
	// 20 pods, each up 40s and down 10s on average for 180s: about 72
	// faults, and a fifth of the pods faulty (of the instants, which
	// follow the arrivals: time-weighted), a little less with the last 20s
	// free of faults.
	assert.InDelta(t, 72, r.Faults, 20)
	assert.InDelta(t, 0.2, float64(faulty)/float64(samples), 0.05)
	assert.InDelta(t, 0.2, float64(r.ToFaulty)/float64(r.Requests), 0.05)
	assert.Equal(t, r.ToFaulty, r.FailedBy[failUpstream])
	last := l[len(l)-1]
	assert.True(t, strings.HasSuffix(last, fmt.Sprintf(" %d/0", r.Faults)), "every fault ended by 190s: %s", last)
}

// A crash ends a pod's fault: it restarts afresh, and its hung requests
// die with it (and are retried when the proxy retries).
func TestCrashEndsFault(t *testing.T) {
	sc := faultScenario(
		Churn{At: at(time.Second), Fault: &FaultAction{Kind: FaultHang, Pods: "2"}},
		Churn{At: at(2 * time.Second), Crashes: &CrashAction{MTBF: Duration(time.Second), Until: Duration(4 * time.Second),
			RestartDelay: Duration(100 * time.Millisecond), DetectionDelay: Duration(50 * time.Millisecond)}},
	)
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Positive(t, r.Crashes)
	assert.Positive(t, r.FailedBy[failKilled], "hung requests die with their pod")
	assert.Less(t, r.Unfinished, r.ToFaulty, "a crashed pod serves again after its restart")
}

func TestFaultValidation(t *testing.T) {
	base := "name: x\nduration: 60s\ndeployment: {replicas: 3}\nworkload: {rate: 5}\n"
	cases := []struct{ name, yaml, want string }{
		{"unknown kind", "churn:\n  - at: 1s\n    fault: {kind: explode}\n", `x.yaml:7: sim: invalid scenario: churn[0].fault.kind: "explode" is not fail or hang`},
		{"no kind", "churn:\n  - at: 1s\n    faults: {mtbf: 1m}\n", `churn[0].faults.kind: is required`},
		{"too many pods", "churn:\n  - at: 1s\n    fault: {kind: fail, pods: 4}\n", `x.yaml:7: sim: invalid scenario: churn[0].fault.pods: 4 is more than the 3 replicas`},
		{"after a scale", "churn:\n  - at: 1s\n    scale: {replicas: 5}\n  - at: 2s\n    fault: {kind: fail, pods: 6}\n", `churn[1].fault.pods: 6 is more than the 5 replicas`},
		{"no pod", "churn:\n  - at: 1s\n    fault: {kind: hang, pods: 0%}\n", `churn[0].fault.pods: "0%" is no pod`},
		{"bad pods", "churn:\n  - at: 1s\n    fault: {kind: hang, pods: two}\n", `churn[0].fault.pods: "two" is neither a count nor a percentage`},
		{"negative duration", "churn:\n  - at: 1s\n    fault: {kind: fail, duration: -5s}\n", `duration "-5s" is negative`},
		{"latency of a hang", "churn:\n  - at: 1s\n    fault: {kind: hang, latency: 5ms}\n", `churn[0].fault.latency: applies to kind fail only`},
		{"no mtbf", "churn:\n  - at: 1s\n    faults: {kind: hang}\n", `x.yaml:7: sim: invalid scenario: churn[0].faults.mtbf: must be positive`},
		{"bad duration", "churn:\n  - at: 1s\n    faults: {kind: hang, mtbf: 1m, duration: {distribution: gauss, mean: 1s}}\n", `churn[0].faults.duration.distribution: "gauss" is not one of`},
		{"two actions", "churn:\n  - at: 1s\n    fault: {kind: hang}\n    crashes: {mtbf: 1m}\n", `needs exactly one of rollingUpdate, scale, crashes, drainZone, fault, faults (has 2)`},
		{"unknown field", "churn:\n  - at: 1s\n    fault: {kind: hang, for: 5s}\n", `line 7: unknown field "for"`},
		{"timeout", "proxies: {timeout: 25h}\n", `x.yaml:5: sim: invalid scenario: proxies.timeout: must be between 0 (none) and 24h`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario("x.yaml", []byte(base+tc.yaml))
			require.ErrorIs(t, err, ErrScenario)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	// What YAML cannot say, Go can.
	for path, mutate := range map[string]func(*Scenario){
		"churn[0].fault.duration": func(s *Scenario) { s.Churn = []Churn{{Fault: &FaultAction{Kind: FaultFail, Duration: -1}}} },
		"churn[0].fault.latency":  func(s *Scenario) { s.Churn = []Churn{{Fault: &FaultAction{Kind: FaultFail, Latency: -1}}} },
		"churn[0].faults.until":   func(s *Scenario) { s.Churn = []Churn{{Faults: &FaultsAction{Kind: FaultHang, MTBF: 1, Until: -1}}} },
		"churn[0].faults.duration": func(s *Scenario) {
			s.Churn = []Churn{{Faults: &FaultsAction{Kind: FaultHang, MTBF: 1, Duration: Const(0)}}}
		},
		"proxies.timeout": func(s *Scenario) { s.Proxies.Timeout = -1 },
	} {
		sc := faultScenario()
		mutate(&sc)
		_, err := Compare(sc, Options{})
		var fe *FieldError
		require.ErrorAs(t, err, &fe, path)
		assert.True(t, strings.HasPrefix(fe.Path, path), "%s: got %s", path, fe.Path)
	}

	// The kind is case-insensitive, and defaults fill in.
	sc, err := ParseScenario("x.yaml", []byte(base+"churn:\n  - at: 1s\n    fault: {kind: FAIL}\n  - at: 2s\n    faults: {kind: Hang, mtbf: 1m}\n"))
	require.NoError(t, err)
	require.NoError(t, sc.normalize())
	assert.Equal(t, FaultFail, sc.Churn[0].Fault.Kind)
	assert.Equal(t, Duration(time.Millisecond), sc.Churn[0].Fault.Latency)
	assert.Equal(t, Exp(30*time.Second), sc.Churn[1].Faults.Duration)
	assert.Zero(t, sc.Churn[1].Faults.Latency)
}

// Pods that would hang on more requests than a run can hold, with no
// timeout to let them go, are refused before the run.
func TestHangWorkBounded(t *testing.T) {
	sc := queueing(10, 50_000, time.Microsecond, 200*time.Second, "round-robin")
	sc.Churn = []Churn{{Fault: &FaultAction{Kind: FaultHang, Pods: "50%"}}}
	_, err := Compare(sc, Options{})
	require.ErrorIs(t, err, ErrTooBig)
	assert.Contains(t, err.Error(), "pods that hang would hold about 5e+07 requests")
	sc.Proxies.Timeout = Duration(time.Second)
	w, err := EstimateWork(sc, Options{})
	require.NoError(t, err)
	assert.InDelta(t, 250_000, w.Hung, 1)
}

// The report shows the to-faulty column, and a note on timeouts, only
// for scenarios with faults and timeouts; it is the same for any
// Parallel.
func TestFaultReport(t *testing.T) {
	sc, err := BuiltinScenario("black-hole")
	require.NoError(t, err)
	sc.Duration = Duration(60 * time.Second) // past the hang at 40s
	sc.Algorithms = named("round-robin", "least-request")
	render := func(par int) (*Report, string) {
		rep, err := Compare(sc, Options{Runs: 2, Parallel: par})
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, rep.WriteJSON(&b))
		return rep, b.String()
	}
	rep, one := render(1)
	_, four := render(4)
	require.Equal(t, one, four)
	var tbl strings.Builder
	require.NoError(t, rep.WriteTable(&tbl))
	assert.Contains(t, tbl.String(), "to faulty")
	assert.True(t, slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "timed out: ") }), rep.Notes)
	assert.NotNil(t, rep.Summary[0].Metrics["to_faulty_fraction"])
	assert.Contains(t, one, `"timeout": "1s"`)

	sc = short(t, "steady")
	sc.Algorithms = named("round-robin")
	rep, err = Compare(sc, Options{})
	require.NoError(t, err)
	tbl.Reset()
	require.NoError(t, rep.WriteTable(&tbl))
	assert.NotContains(t, tbl.String(), "to faulty")
	assert.Nil(t, rep.Summary[0].Metrics["to_faulty_fraction"])
}
