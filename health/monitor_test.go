package health_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/roundrobin"
)

const sec = int64(time.Second)

func backends(n int) []balancer.Backend {
	bs := make([]balancer.Backend, n)
	for i := range bs {
		bs[i] = balancer.Backend{ID: fmt.Sprintf("pod-%d", i)}
	}
	return bs
}

// setup returns a round-robin Balancer over n endpoints with a Monitor
// running cfg, both at time 0+1.
func setup(t *testing.T, n int, cfg health.Config) (*balancer.Balancer, *health.Monitor) {
	t.Helper()
	bal := balancer.New(roundrobin.Config{})
	require.NoError(t, bal.UpdateAt(1, backends(n)))
	m, err := health.New(bal, cfg, 1)
	require.NoError(t, err)
	return bal, m
}

// endpoint returns the Balancer's endpoint with the given ID.
func endpoint(t *testing.T, bal *balancer.Balancer, id string) *balancer.Endpoint {
	t.Helper()
	for _, e := range bal.Endpoints() {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no endpoint %s", id)
	return nil
}

func serving(bal *balancer.Balancer) []string {
	var ids []string
	for _, e := range bal.Serving() {
		ids = append(ids, e.ID)
	}
	return ids
}

// finish ends n requests to e as d says, as Balancer.Pick would begin them.
func finish(e *balancer.Endpoint, n int, d balancer.DoneInfo) {
	for range n {
		e.Begin().Done(d)
	}
}

func TestConsecutive5xxEjectsAndReturns(t *testing.T) {
	var events []health.Event
	bal, m := setup(t, 10, health.Config{
		Outlier: &health.OutlierDetection{},
		OnEvent: func(ev health.Event) { events = append(events, ev) },
	})
	e := endpoint(t, bal, "pod-3")
	finish(e, 4, balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: 5 * sec})
	assert.Contains(t, serving(bal), "pod-3", "four are not enough")
	finish(e, 1, balancer.DoneInfo{Failure: balancer.GatewayFailure, Now: 5 * sec})
	assert.NotContains(t, serving(bal), "pod-3")
	require.Len(t, events, 1)
	assert.Equal(t, health.Event{Time: 5 * sec, Kind: health.EventEjected, Endpoint: e,
		Reason: health.Consecutive5xx, Until: 35 * sec}, events[0])
	st := m.Status()
	assert.Equal(t, 1, st.Ejected)
	assert.Equal(t, health.Consecutive5xx, st.Endpoints[3].Reason)
	assert.EqualValues(t, 1, st.Counters.Ejections[health.Consecutive5xx])

	// No pick lands on it while it is out.
	for range 100 {
		r, err := bal.Pick(balancer.Request{})
		require.NoError(t, err)
		require.NotEqual(t, "pod-3", r.Endpoint.ID)
		r.Done(balancer.DoneInfo{})
	}
	assert.Equal(t, 10*sec+1, m.Next(), "the first evaluation comes first")
	m.Advance(34 * sec)
	assert.NotContains(t, serving(bal), "pod-3")
	m.Advance(35 * sec)
	assert.Contains(t, serving(bal), "pod-3", "back after the base ejection time")
	assert.Equal(t, health.EventReturned, events[len(events)-1].Kind)

	// A second ejection right away lasts twice as long.
	finish(e, 5, balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: 36 * sec})
	assert.Equal(t, 96*sec, e.Health().EjectedUntil)
	assert.Equal(t, 2, e.Health().Ejections)
}

func TestEjectionTimeCappedAndForgiven(t *testing.T) {
	bal, m := setup(t, 10, health.Config{Outlier: &health.OutlierDetection{
		BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 70 * time.Second, Interval: time.Second}})
	e := endpoint(t, bal, "pod-0")
	now := 2 * sec
	var lengths []int64
	for range 4 {
		finish(e, 5, balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: now})
		h := e.Health()
		require.True(t, h.Ejected)
		lengths = append(lengths, (h.EjectedUntil-now)/sec)
		now = h.EjectedUntil
		m.Advance(now)
	}
	assert.Equal(t, []int64{30, 60, 70, 70}, lengths)
	// Each interval unejected forgives one ejection.
	for range 3 {
		now += sec
		m.Advance(now)
	}
	assert.Equal(t, 1, e.Health().Ejections)
}

func TestMaxEjectionPercent(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{5, 1}, {20, 2}, {40, 4}} {
		bal, m := setup(t, tc.n, health.Config{Outlier: &health.OutlierDetection{}, PanicThreshold: -1})
		for _, e := range bal.Endpoints() {
			finish(e, 5, balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: sec})
		}
		st := m.Status()
		assert.Equal(t, tc.want, st.Ejected, "n=%d", tc.n)
		assert.EqualValues(t, tc.n-tc.want, st.Counters.Overflow)
		assert.Len(t, bal.Serving(), tc.n-tc.want)
	}
}

// evalRound gives every endpoint total requests, of which fail[i] fail,
// and runs the evaluation at now.
func evalRound(bal *balancer.Balancer, m *health.Monitor, total int, fail map[string]int, now int64) {
	for _, e := range bal.Endpoints() {
		f := fail[e.ID]
		// Spread the failures evenly, so that no run of five trips first
		// unless most fail.
		for i := range total {
			d := balancer.DoneInfo{Now: now}
			if (i+1)*f/total > i*f/total {
				d.Failure = balancer.UpstreamFailure
			}
			e.Begin().Done(d)
		}
	}
	m.Advance(now)
}

func TestSuccessRateEjection(t *testing.T) {
	bal, m := setup(t, 10, health.Config{Outlier: &health.OutlierDetection{}})
	evalRound(bal, m, 200, map[string]int{"pod-7": 60, "pod-2": 4}, 10*sec+1)
	st := m.Status()
	assert.Equal(t, 1, st.Ejected)
	assert.True(t, st.Endpoints[7].Ejected)
	assert.Equal(t, health.SuccessRate, st.Endpoints[7].Reason)

	// Too few requests: no verdict.
	bal, m = setup(t, 10, health.Config{Outlier: &health.OutlierDetection{}})
	evalRound(bal, m, 99, map[string]int{"pod-7": 45}, 10*sec+1)
	assert.Zero(t, m.Status().Ejected)
}

func TestFailurePercentageEnforcedOnlyWhenAsked(t *testing.T) {
	fail := map[string]int{}
	for i := range 10 {
		fail[fmt.Sprintf("pod-%d", i)] = 45 // every one at 90%: no success-rate outlier
	}
	bal, m := setup(t, 10, health.Config{Outlier: &health.OutlierDetection{Consecutive5xx: 1000}})
	evalRound(bal, m, 50, fail, 10*sec+1)
	assert.Zero(t, m.Status().Ejected, "Envoy does not enforce failure percentage by default")

	bal, m = setup(t, 10, health.Config{Outlier: &health.OutlierDetection{
		EnforcingFailurePercentage: 100, MaxEjectionPercent: 100, Consecutive5xx: 1000}, PanicThreshold: -1})
	evalRound(bal, m, 50, fail, 10*sec+1)
	st := m.Status()
	assert.Equal(t, 10, st.Ejected)
	assert.EqualValues(t, 10, st.Counters.Ejections[health.FailurePercentage])
	_, err := bal.Pick(balancer.Request{})
	assert.ErrorIs(t, err, balancer.ErrNoEndpoints, "no panic threshold: nothing to pick")
}

func TestPanicThreshold(t *testing.T) {
	var kinds []health.EventKind
	bal, m := setup(t, 4, health.Config{
		Active:  &health.ActiveConfig{Interval: time.Second, UnhealthyThreshold: 1, HealthyThreshold: 1},
		OnEvent: func(ev health.Event) { kinds = append(kinds, ev.Kind) },
	})
	down := func(id string, err error, now int64) { m.CheckResult(endpoint(t, bal, id), err, now) }
	// Drive the checks as the simulator does: take what is due, report.
	due := m.DueChecks(2*sec, nil)
	require.Len(t, due, 4, "every endpoint's first check falls within the first interval")
	down("pod-0", assert.AnError, 2*sec)
	assert.Equal(t, []string{"pod-1", "pod-2", "pod-3"}, serving(bal))
	down("pod-1", nil, 2*sec)
	down("pod-2", assert.AnError, 2*sec)
	assert.Equal(t, []string{"pod-1", "pod-3"}, serving(bal), "half healthy: not yet panic")
	require.NotEmpty(t, m.DueChecks(3*sec+sec, nil))
	down("pod-3", assert.AnError, 4*sec)
	assert.True(t, m.Status().Panic)
	assert.Len(t, serving(bal), 4, "in panic every endpoint serves")
	down("pod-0", nil, 4*sec)
	assert.False(t, m.Status().Panic)
	assert.Equal(t, []string{"pod-0", "pod-1"}, serving(bal))
	assert.Equal(t, []health.EventKind{health.EventDown, health.EventDown, health.EventDown,
		health.EventPanic, health.EventUp, health.EventPanicOver}, kinds)
}

func TestSlowStartRampsNewEndpoints(t *testing.T) {
	bal, m := setup(t, 3, health.Config{SlowStart: &health.SlowStart{Window: 10 * time.Second}})
	weight := func(id string) uint32 {
		for _, e := range bal.Serving() {
			if e.ID == id {
				return e.Weight
			}
		}
		return 0
	}
	assert.EqualValues(t, 1, weight("pod-0"), "all new at start: nothing ramps")
	require.NoError(t, bal.UpdateAt(20*sec, backends(4)))
	assert.EqualValues(t, 10, weight("pod-3"), "the floor: 10% of 1 x 100")
	assert.EqualValues(t, 100, weight("pod-0"))
	next := m.Next()
	assert.Equal(t, 20*sec+sec/2, next, "steps of a twentieth of the window")
	m.Advance(25 * sec)
	assert.EqualValues(t, 50, weight("pod-3"))
	assert.InDelta(t, 0.5, m.Status().Endpoints[3].SlowStart, 1e-9)
	m.Advance(30 * sec)
	assert.EqualValues(t, 1, weight("pod-3"), "ramp over: plain weights")
	assert.EqualValues(t, 1, weight("pod-0"))

	// Round robin follows the weights: over 20,000 picks at mid-ramp the
	// new endpoint gets half a share.
	require.NoError(t, bal.UpdateAt(40*sec, backends(5)))
	m.Advance(45 * sec)
	counts := map[string]int{}
	for range 20000 {
		r, err := bal.Pick(balancer.Request{})
		require.NoError(t, err)
		counts[r.Endpoint.ID]++
		r.Done(balancer.DoneInfo{})
	}
	assert.InDelta(t, 20000*0.5/4.5, counts["pod-4"], 50)
}

func TestSlowStartLeavesHashWeights(t *testing.T) {
	bal := balancer.New(maglev.Config{})
	require.NoError(t, bal.UpdateAt(1, backends(3)))
	_, err := health.New(bal, health.Config{SlowStart: &health.SlowStart{Window: 10 * time.Second}}, 1)
	require.NoError(t, err)
	require.NoError(t, bal.UpdateAt(20*sec, backends(4)))
	for _, e := range bal.Serving() {
		assert.EqualValues(t, 1, e.Weight)
	}
}

func TestActivePassUnejects(t *testing.T) {
	bal, m := setup(t, 10, health.Config{Outlier: &health.OutlierDetection{}, Active: &health.ActiveConfig{}})
	e := endpoint(t, bal, "pod-1")
	finish(e, 5, balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: sec})
	require.True(t, e.Health().Ejected)
	m.CheckResult(e, nil, 2*sec)
	assert.False(t, e.Health().Ejected)
	assert.Contains(t, serving(bal), "pod-1")
}

func TestConfigErrors(t *testing.T) {
	bal := balancer.New(roundrobin.Config{})
	for _, cfg := range []health.Config{
		{PanicThreshold: 101},
		{Outlier: &health.OutlierDetection{Consecutive5xx: -1}},
		{Outlier: &health.OutlierDetection{Interval: -time.Second}},
		{Outlier: &health.OutlierDetection{MaxEjectionPercent: 150}},
		{Outlier: &health.OutlierDetection{SuccessRateStdevFactor: -2}},
		{SlowStart: &health.SlowStart{}},
		{SlowStart: &health.SlowStart{Window: time.Second, MinWeightPercent: 101}},
		{Active: &health.ActiveConfig{Interval: -1}},
	} {
		_, err := health.New(bal, cfg, 1)
		assert.ErrorIs(t, err, health.ErrConfig, "%+v", cfg)
	}
}

func TestStartUnhealthy(t *testing.T) {
	bal, m := setup(t, 3, health.Config{Active: &health.ActiveConfig{StartUnhealthy: true,
		Interval: time.Second, HealthyThreshold: 1}, PanicThreshold: -1})
	_, err := bal.Pick(balancer.Request{})
	require.ErrorIs(t, err, balancer.ErrNoEndpoints, "nobody has passed a check yet")
	for _, e := range m.DueChecks(sec+1, nil) {
		m.CheckResult(e, nil, sec+1)
	}
	assert.Len(t, bal.Serving(), 3)
}
