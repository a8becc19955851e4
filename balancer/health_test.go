package balancer_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

var errBoom = errors.New("boom")

func TestFailureKinds(t *testing.T) {
	e := balancer.NewEndpoint(balancer.Backend{ID: "a"})
	done := func(d balancer.DoneInfo) { e.Begin().Done(d) }
	done(balancer.DoneInfo{})
	done(balancer.DoneInfo{Err: errBoom})                                   // upstream
	done(balancer.DoneInfo{Err: errBoom, Failure: balancer.GatewayFailure}) // gateway
	done(balancer.DoneInfo{Failure: balancer.GatewayFailure})               // gateway without Err
	f, g := e.ConsecutiveFailures()
	assert.Equal(t, [2]uint32{3, 2}, [2]uint32{f, g})
	done(balancer.DoneInfo{Failure: balancer.UpstreamFailure}) // ends the gateway run only
	f, g = e.ConsecutiveFailures()
	assert.Equal(t, [2]uint32{4, 0}, [2]uint32{f, g})
	done(balancer.DoneInfo{Err: errBoom, Failure: balancer.Canceled}) // neither
	f, _ = e.ConsecutiveFailures()
	assert.EqualValues(t, 4, f)
	assert.EqualValues(t, 4, e.Penalty())
	assert.EqualValues(t, 4, e.Load())
	assert.EqualValues(t, 0, e.InFlight())
	done(balancer.DoneInfo{Err: errBoom, Failure: balancer.Success}) // a success despite Err
	f, g = e.ConsecutiveFailures()
	assert.Equal(t, [2]uint32{0, 0}, [2]uint32{f, g})
	assert.EqualValues(t, 4, e.Failures())
	assert.EqualValues(t, 7, e.Completed())
	assert.Equal(t, "gateway", balancer.GatewayFailure.String())
}

func TestPenaltyIsCapped(t *testing.T) {
	e := balancer.NewEndpoint(balancer.Backend{ID: "a"})
	for range 1000 {
		e.Begin().Done(balancer.DoneInfo{Failure: balancer.GatewayFailure})
	}
	assert.EqualValues(t, balancer.MaxPenalty, e.Penalty())
	r := e.Begin()
	assert.EqualValues(t, balancer.MaxPenalty+1, e.Load())
	r.Done(balancer.DoneInfo{})
	assert.EqualValues(t, 0, e.Load())
}

// A fast failure must not read as a fast endpoint: its latency counts as
// at least the failure penalty.
func TestFailureFeedsPenaltyLatency(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(1)))
	now := time.Unix(100, 0).UnixNano()
	r, err := b.Pick(balancer.Request{})
	require.NoError(t, err)
	r.Done(balancer.DoneInfo{Failure: balancer.UpstreamFailure, Latency: time.Millisecond, Now: now})
	assert.Equal(t, balancer.DefaultFailurePenalty, r.Endpoint.Latency(now))
}

func TestTripOnceAtThreshold(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(1)))
	var trips []balancer.Failure
	require.NoError(t, b.SetGate(1, nil, balancer.FailureWatch{
		Consecutive: 3, ConsecutiveGateway: 2,
		Trip: func(e *balancer.Endpoint, f balancer.Failure, now int64) {
			assert.Equal(t, "10.0.0.0:6379", e.ID)
			assert.EqualValues(t, 42, now)
			trips = append(trips, f)
		},
	}))
	fail := func(f balancer.Failure) {
		r, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		r.Done(balancer.DoneInfo{Failure: f, Now: 42})
	}
	fail(balancer.UpstreamFailure)
	fail(balancer.UpstreamFailure)
	assert.Empty(t, trips)
	fail(balancer.UpstreamFailure) // third of any kind
	assert.Equal(t, []balancer.Failure{balancer.UpstreamFailure}, trips)
	fail(balancer.UpstreamFailure) // past the threshold: no second trip
	assert.Len(t, trips, 1)
	fail(0) // success resets
	fail(balancer.GatewayFailure)
	fail(balancer.GatewayFailure) // second gateway in a row
	assert.Equal(t, []balancer.Failure{balancer.UpstreamFailure, balancer.GatewayFailure}, trips)
}

func TestEjectUnejectForgive(t *testing.T) {
	e := balancer.NewEndpoint(balancer.Backend{ID: "a"})
	assert.True(t, e.Healthy())
	e.Begin().Done(balancer.DoneInfo{Err: errBoom})
	require.True(t, e.Eject(500))
	require.False(t, e.Eject(600), "already ejected")
	h := e.Health()
	assert.Equal(t, balancer.Health{Ejected: true, Ejections: 1, EjectedUntil: 500}, h)
	assert.False(t, h.Healthy())
	f, _ := e.ConsecutiveFailures()
	assert.Zero(t, f, "ejection clears the run")
	require.True(t, e.Uneject(700))
	require.False(t, e.Uneject(800))
	assert.Equal(t, balancer.Health{Ejections: 1, Since: 700}, e.Health())
	require.True(t, e.SetDown(true, 900))
	require.False(t, e.SetDown(true, 950))
	require.True(t, e.Eject(2000))
	require.True(t, e.Uneject(1000))
	assert.EqualValues(t, 700, e.Health().Since, "still down: not healthy again")
	require.True(t, e.SetDown(false, 1100))
	assert.Equal(t, balancer.Health{Ejections: 2, Since: 1100}, e.Health())
	e.Forgive()
	e.Forgive()
	e.Forgive()
	assert.Zero(t, e.Health().Ejections)
}

// healthyOnly is a Gate that admits the healthy endpoints.
type healthyOnly struct{ calls atomic.Int64 }

func (g *healthyOnly) Admit(now int64, all, dst []*balancer.Endpoint) []*balancer.Endpoint {
	g.calls.Add(1)
	for _, e := range all {
		if e.Healthy() {
			dst = append(dst, e)
		}
	}
	return dst
}

func TestGateAndRebuild(t *testing.T) {
	b := balancer.New(cycle{})
	g := &healthyOnly{}
	require.NoError(t, b.SetGate(1, g, balancer.FailureWatch{}))
	require.NoError(t, b.UpdateAt(10, lbtest.Backends(3)))
	all := b.Endpoints()
	require.Len(t, all, 3)
	assert.EqualValues(t, 10, all[0].Health().Since)
	all[1].SetDown(true, 20)
	assert.Len(t, b.Serving(), 3, "not before Rebuild")
	require.NoError(t, b.Rebuild(20))
	assert.Equal(t, []string{"10.0.0.0:6379", "10.0.0.2:6379"}, ids(b.Serving()))
	assert.Len(t, b.Endpoints(), 3, "Endpoints lists all")
	for range 10 {
		r, err := b.Pick(balancer.Request{})
		require.NoError(t, err)
		assert.NotEqual(t, "10.0.0.1:6379", r.Endpoint.ID)
		r.Done(balancer.DoneInfo{})
	}
	// The health survives an Update that keeps the ID.
	require.NoError(t, b.UpdateAt(30, lbtest.Backends(3)))
	assert.Equal(t, []string{"10.0.0.0:6379", "10.0.0.2:6379"}, ids(b.Serving()))
	require.NoError(t, b.SetGate(40, nil, balancer.FailureWatch{}))
	assert.Len(t, b.Serving(), 3)
}

// slowBuilder blocks in Build until released, to hold the Balancer's lock.
type slowBuilder struct {
	cycle
	entered chan struct{}
	release chan struct{}
	block   *atomic.Bool
}

func (s slowBuilder) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if s.block.Load() {
		s.block.Store(false)
		s.entered <- struct{}{}
		<-s.release
	}
	return s.cycle.Build(eps)
}

// Rebuild never waits: while an Update holds the Balancer, it leaves its
// work to the Update, which publishes it before it returns.
func TestRebuildNeverWaits(t *testing.T) {
	sb := slowBuilder{entered: make(chan struct{}), release: make(chan struct{}), block: &atomic.Bool{}}
	b := balancer.New(sb)
	require.NoError(t, b.SetGate(1, &healthyOnly{}, balancer.FailureWatch{}))
	require.NoError(t, b.UpdateAt(1, lbtest.Backends(3)))
	sb.block.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, b.UpdateAt(2, lbtest.Backends(3))) })
	<-sb.entered
	b.Endpoints()[0].SetDown(true, 3)
	require.NoError(t, b.Rebuild(3)) // returns although Update holds the lock
	_, err := b.Pick(balancer.Request{})
	require.NoError(t, err, "picks go on")
	close(sb.release)
	wg.Wait()
	assert.Equal(t, []string{"10.0.0.1:6379", "10.0.0.2:6379"}, ids(b.Serving()))
}

func TestPickWhileRebuilding(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.SetGate(1, &healthyOnly{}, balancer.FailureWatch{Consecutive: 2,
		Trip: func(e *balancer.Endpoint, _ balancer.Failure, now int64) {
			if e.Eject(now + 1) {
				_ = b.Rebuild(now)
			}
		}}))
	require.NoError(t, b.Update(lbtest.Backends(8)))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := b.Pick(balancer.Request{})
				if err != nil {
					continue
				}
				var d balancer.DoneInfo
				if (i+w)%3 == 0 {
					d.Failure = balancer.UpstreamFailure
				}
				r.Done(d)
			}
		})
	}
	for i := range 200 {
		for _, e := range b.Endpoints() {
			if e.Uneject(int64(i)) {
				_ = b.Rebuild(int64(i))
			}
		}
		if i%10 == 0 {
			require.NoError(t, b.Update(lbtest.Backends(8-i%3)))
		}
	}
	close(stop)
	wg.Wait()
	for _, e := range b.Endpoints() {
		assert.Zero(t, e.InFlight())
	}
}

func TestInSetAndUsable(t *testing.T) {
	b := balancer.New(cycle{})
	require.NoError(t, b.Update(lbtest.Backends(3)))
	eps := b.Endpoints()
	for _, e := range eps {
		assert.True(t, e.InSet())
		assert.True(t, e.Usable())
	}
	eps[1].SetDown(true, 1)
	assert.True(t, eps[1].InSet())
	assert.False(t, eps[1].Usable())
	require.NoError(t, b.Update(lbtest.Backends(3)[:2]))
	assert.True(t, eps[0].InSet())
	assert.False(t, eps[2].InSet(), "dropped")
	assert.False(t, eps[2].Usable())
	// Weight changes make a new Endpoint value that shares the state.
	bs := lbtest.Backends(2)
	bs[0].Weight = 5
	require.NoError(t, b.Update(bs))
	assert.True(t, eps[0].InSet(), "the ID stays")
	require.NoError(t, b.Update(lbtest.Backends(3)))
	assert.False(t, eps[2].InSet(), "re-added: a new Endpoint, the old one stays gone")
	assert.True(t, b.Endpoints()[2].InSet())
	assert.True(t, balancer.NewEndpoint(balancer.Backend{ID: "x"}).InSet())
}
