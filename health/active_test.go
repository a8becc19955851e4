package health

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lbkit/lbkit/balancer"
)

const t0 = int64(1_700_000_000) * int64(time.Second)

var errDown = errors.New("down")

func endpoints(n int) []*balancer.Endpoint {
	eps := make([]*balancer.Endpoint, n)
	for i := range eps {
		eps[i] = balancer.NewEndpoint(balancer.Backend{ID: fmt.Sprintf("10.%d.%d.%d:8080", i>>16, i>>8&255, i&255)})
	}
	return eps
}

func newTestActive(t *testing.T, cfg ActiveConfig, seed uint64) *active {
	t.Helper()
	require.NoError(t, cfg.Validate())
	return newActive(cfg.WithDefaults(), seed)
}

// checkOnce waits for id's next check, runs it with result err, and
// returns the time and report outcome. The set must hold only id.
func checkOnce(t *testing.T, a *active, id string, err error) (now int64, changed, healthy bool) {
	t.Helper()
	now = a.next()
	got := a.due(now, nil)
	require.Len(t, got, 1)
	require.Equal(t, id, got[0].ID)
	changed, healthy = a.report(id, err, now)
	return now, changed, healthy
}

func TestActiveFirstChecksSpread(t *testing.T) {
	const n, buckets = 10_000, 100
	interval := 2 * time.Second
	a := newTestActive(t, ActiveConfig{Interval: interval}, 1)
	a.sync(endpoints(n), t0)

	require.Empty(t, a.due(t0-1, nil))
	count := make([]int, buckets)
	for _, ent := range a.byID {
		off := ent.due - t0
		require.True(t, off >= 0 && off < int64(interval), "offset %d outside [0, interval)", off)
		count[off*buckets/int64(interval)]++
	}
	// Chi-square goodness of fit to uniform, alpha = 0.001, 99 degrees of
	// freedom: the seed is fixed, so this is a check of the mixing, not a
	// flaky test.
	want := float64(n) / buckets
	stat := 0.0
	for i, c := range count {
		require.Greater(t, c, 0, "bucket %d empty: the first checks must cover the interval", i)
		require.Less(t, float64(c), 2*want, "bucket %d holds %d, over twice its share", i, c)
		stat += (float64(c) - want) * (float64(c) - want) / want
	}
	require.Less(t, stat, distuv.ChiSquared{K: buckets - 1}.Quantile(1-0.001))

	got := a.due(t0+int64(interval)-1, nil)
	require.Len(t, got, n, "every first check falls within one interval")
	for i := 1; i < len(got); i++ {
		require.LessOrEqual(t, a.byID[got[i-1].ID].due, a.byID[got[i].ID].due, "due returns earliest first")
	}
	require.Equal(t, int64(math.MaxInt64), a.next(), "all in progress")
}

func TestActiveThresholds(t *testing.T) {
	// rise 2, fall 3; H = healthy after the step, "!" = changed.
	for _, tc := range []struct {
		name    string
		start   bool // StartUnhealthy
		results string
		want    string
	}{
		{"falls at the third failure", false, "FFFF", "HHU!U"},
		{"a success resets the failure run", false, "FFSFFS", "HHHHHH"},
		{"rises at the second success", false, "FFFSSS", "HHU!UH!H"},
		{"a failure resets the success run", false, "FFFSFSS", "HHU!UUUH!"},
		{"starts unhealthy", true, "SS", "UH!"},
		{"starts unhealthy, failures keep it down", true, "FFSFSS", "UUUUUH!"},
	} {
		a := newTestActive(t, ActiveConfig{Interval: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3, StartUnhealthy: tc.start}, 7)
		ep := endpoints(1)
		a.sync(ep, t0)
		h, known := a.healthy(ep[0].ID)
		require.True(t, known)
		require.Equal(t, !tc.start, h, tc.name)
		var got strings.Builder
		for _, r := range tc.results {
			var err error
			if r == 'F' {
				err = errDown
			}
			_, changed, healthy := checkOnce(t, a, ep[0].ID, err)
			h, _ := a.healthy(ep[0].ID)
			require.Equal(t, healthy, h)
			got.WriteString(map[bool]string{true: "H", false: "U"}[healthy])
			if changed {
				got.WriteString("!")
			}
		}
		require.Equal(t, tc.want, got.String(), tc.name)
	}
}

func TestActiveStatus(t *testing.T) {
	a := newTestActive(t, ActiveConfig{}, 1)
	ep := endpoints(1)
	id := ep[0].ID
	require.Equal(t, ActiveStatus{}, a.status(id), "unknown")
	a.sync(ep, t0)
	require.Equal(t, ActiveStatus{Healthy: true}, a.status(id))

	at1, _, _ := checkOnce(t, a, id, errDown)
	at2, _, _ := checkOnce(t, a, id, errDown)
	require.Equal(t, ActiveStatus{Healthy: true, Failures: 2, LastError: "down", LastCheck: at2, Checks: 2}, a.status(id))
	require.Equal(t, at1+int64(2*time.Second), at2, "default interval, no jitter")
	at3, _, _ := checkOnce(t, a, id, nil)
	require.Equal(t, ActiveStatus{Healthy: true, Successes: 1, LastError: "down", LastCheck: at3, Checks: 3}, a.status(id))
}

func TestActiveInProgress(t *testing.T) {
	a := newTestActive(t, ActiveConfig{Interval: time.Second}, 1)
	ep := endpoints(1)
	id := ep[0].ID
	a.sync(ep, t0)

	changed, healthy := a.report(id, errDown, t0)
	require.False(t, changed)
	require.True(t, healthy)
	require.Zero(t, a.status(id).Checks, "a report with no check in progress is ignored")

	now := a.next()
	require.Len(t, a.due(now, nil), 1)
	require.Empty(t, a.due(now+int64(time.Hour), nil), "in progress: not due again until reported")
	require.Equal(t, int64(math.MaxInt64), a.next())
	a.report(id, nil, now+int64(5*time.Second))
	require.Equal(t, now+int64(6*time.Second), a.next(), "the interval runs from the report")

	changed, _ = a.report("nobody", errDown, now)
	require.False(t, changed)
}

func TestActiveJitter(t *testing.T) {
	interval, jitter := time.Second, 300*time.Millisecond
	a := newTestActive(t, ActiveConfig{Interval: interval, Jitter: jitter}, 3)
	ep := endpoints(1)
	a.sync(ep, t0)
	lo, hi := int64(math.MaxInt64), int64(0)
	for range 2000 {
		now, _, _ := checkOnce(t, a, ep[0].ID, nil)
		d := a.next() - now - int64(interval)
		require.True(t, d >= 0 && d < int64(jitter), "jitter %v outside [0, %v)", time.Duration(d), jitter)
		lo, hi = min(lo, d), max(hi, d)
	}
	require.Less(t, lo, int64(jitter)/100, "jitter reaches down to 0")
	require.Greater(t, hi, int64(jitter)*99/100, "jitter reaches up to Jitter")
}

func TestActiveSync(t *testing.T) {
	a := newTestActive(t, ActiveConfig{Interval: time.Second}, 1)
	eps := endpoints(3)
	a.sync(eps, t0)
	kept, gone := eps[0].ID, eps[1].ID

	// Fail kept and gone once each, leave gone's second check in progress.
	now := t0 + int64(time.Second)
	for _, e := range a.due(now, nil) {
		a.report(e.ID, errDown, now)
	}
	now += int64(3 * time.Second)
	inProgress := a.due(now, nil)
	require.Len(t, inProgress, 3)
	a.report(kept, nil, now)
	nextKept := a.byID[kept].due

	fresh := balancer.NewEndpoint(balancer.Backend{ID: kept, Addr: "10.9.9.9:80"})
	a.sync([]*balancer.Endpoint{fresh, nil, eps[2]}, now)
	require.Equal(t, ActiveStatus{Healthy: true, Successes: 1, LastError: "down", LastCheck: now, Checks: 2}, a.status(kept), "state kept")
	require.Equal(t, nextKept, a.byID[kept].due, "schedule kept")
	require.Same(t, fresh, a.due(nextKept, nil)[0], "the newest *Endpoint is checked")

	_, known := a.healthy(gone)
	require.False(t, known, "dropped")
	changed, healthy := a.report(gone, errDown, now)
	require.False(t, changed || healthy, "a report for a dropped ID is ignored")
	require.Len(t, a.byID, 2)
	require.Len(t, a.queue, 0, "kept and eps[2] are in progress")

	a.sync(eps[1:2], now)
	require.Equal(t, ActiveStatus{Healthy: true}, a.status(gone), "back: a fresh state")
	require.Len(t, a.byID, 1)
	require.Len(t, a.queue, 1)

	a.sync(nil, now)
	require.Empty(t, a.byID)
	require.Equal(t, int64(math.MaxInt64), a.next())
}

func TestActiveDeterministic(t *testing.T) {
	run := func(seed uint64) []string {
		a := newTestActive(t, ActiveConfig{Interval: time.Second, Jitter: 500 * time.Millisecond}, seed)
		eps := endpoints(200)
		a.sync(eps, t0)
		var log []string
		var buf []*balancer.Endpoint
		for step := 0; step < 5000 && a.next() != math.MaxInt64; step++ {
			now := a.next()
			buf = a.due(now, buf[:0])
			for i, e := range buf {
				log = append(log, fmt.Sprint(now, e.ID))
				var err error
				if (step+i)%3 == 0 {
					err = errDown
				}
				a.report(e.ID, err, now+int64(time.Millisecond))
			}
			if step == 1000 {
				a.sync(eps[50:], now) // churn mid-run
			}
		}
		return log
	}
	require.Equal(t, run(42), run(42))
	require.NotEqual(t, run(42), run(43))
}

func TestActiveSaturates(t *testing.T) {
	a := newTestActive(t, ActiveConfig{Interval: 24 * time.Hour, Jitter: time.Hour}, 1)
	ep := endpoints(1)
	a.sync(ep, math.MaxInt64-1)
	require.GreaterOrEqual(t, a.next(), int64(math.MaxInt64-1))
	now := a.next()
	require.Len(t, a.due(now, nil), 1)
	a.report(ep[0].ID, nil, now)
	require.Equal(t, int64(math.MaxInt64), a.next(), "no overflow into the past")
}

func TestActiveConfigDefaults(t *testing.T) {
	d := ActiveConfig{}.WithDefaults()
	require.Equal(t, ActiveConfig{Interval: 2 * time.Second, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3, Probe: TCPProbe{}}, d)
	require.Equal(t, 100*time.Millisecond, ActiveConfig{Interval: 100 * time.Millisecond}.WithDefaults().Timeout,
		"the default timeout is capped by the interval")
	require.Equal(t, d, d.WithDefaults())
	require.NoError(t, ActiveConfig{}.Validate())
	require.NoError(t, ActiveConfig{Interval: time.Second, Timeout: 5 * time.Second}.Validate(), "Timeout above Interval is allowed")
}

func TestActiveConfigValidate(t *testing.T) {
	for _, c := range []ActiveConfig{
		{Interval: -time.Second},
		{Interval: time.Microsecond},
		{Interval: 25 * time.Hour},
		{Interval: math.MaxInt64},
		{Timeout: -1},
		{Timeout: time.Microsecond},
		{Timeout: 25 * time.Hour},
		{Jitter: -1},
		{Jitter: 3 * time.Second},
		{HealthyThreshold: -1},
		{UnhealthyThreshold: -1},
		{HealthyThreshold: 1001},
		{UnhealthyThreshold: math.MaxInt},
		{Probe: HTTPProbe{Path: "nope"}},
		{Probe: &HTTPProbe{Method: "A B"}},
		{Probe: (*HTTPProbe)(nil)},
	} {
		err := c.Validate()
		require.ErrorIs(t, err, ErrConfig, "%+v", c)
		require.True(t, strings.HasPrefix(err.Error(), "health: "), err.Error())
	}
}

func FuzzActiveConfig(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), 0, 0, false)
	f.Add(int64(time.Second), int64(5*time.Second), int64(time.Second), 1, 1000, true)
	f.Add(int64(-1), int64(math.MaxInt64), int64(math.MinInt64), -1, math.MaxInt, false)
	f.Fuzz(func(t *testing.T, interval, timeout, jitter int64, rise, fall int, startUnhealthy bool) {
		c := ActiveConfig{Interval: time.Duration(interval), Timeout: time.Duration(timeout), Jitter: time.Duration(jitter),
			HealthyThreshold: rise, UnhealthyThreshold: fall, StartUnhealthy: startUnhealthy}
		d := c.WithDefaults()
		require.Equal(t, d, d.WithDefaults(), "idempotent")
		if err := c.Validate(); err != nil {
			require.ErrorIs(t, err, ErrConfig)
			return
		}
		require.NoError(t, d.Validate())
		require.True(t, d.Interval >= time.Millisecond && d.Interval <= 24*time.Hour)
		require.True(t, d.Timeout >= time.Millisecond && d.Timeout <= 24*time.Hour)
		require.True(t, d.Jitter >= 0 && d.Jitter <= d.Interval)
		require.True(t, d.HealthyThreshold >= 1 && d.HealthyThreshold <= 1000)
		require.True(t, d.UnhealthyThreshold >= 1 && d.UnhealthyThreshold <= 1000)
		require.NotNil(t, d.Probe)

		// A valid config drives a schedule that never goes back in time.
		a := newActive(d, 1)
		ep := endpoints(1)
		a.sync(ep, t0)
		for range 3 {
			now := a.next()
			require.GreaterOrEqual(t, now, t0)
			require.Len(t, a.due(now, nil), 1)
			a.report(ep[0].ID, nil, now)
			require.Greater(t, a.next(), now)
		}
	})
}
