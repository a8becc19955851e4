package health_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/leastconn"
)

// listener is a TCP backend on loopback that can die and come back on
// the same port.
type listener struct {
	addr string
	mu   sync.Mutex
	ln   net.Listener
}

func newListener(t *testing.T) *listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &listener{addr: ln.Addr().String()}
	l.serve(ln)
	t.Cleanup(l.kill)
	return l
}

func (l *listener) serve(ln net.Listener) {
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (l *listener) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
}

func (l *listener) revive(t *testing.T) {
	ln, err := net.Listen("tcp", l.addr)
	require.NoError(t, err)
	l.serve(ln)
}

// The real checker, on the real clock, takes a dead backend out within
// fall x interval and brings it back within rise x interval, while picks
// and failing Dones go on in parallel; Close leaves no goroutine behind.
func TestStartChecksRealBackends(t *testing.T) {
	defer goleak.VerifyNone(t)
	lns := []*listener{newListener(t), newListener(t), newListener(t)}
	bal := balancer.New(leastconn.Config{})
	var bs []balancer.Backend
	for _, l := range lns {
		bs = append(bs, balancer.Backend{ID: l.addr})
	}
	require.NoError(t, bal.Update(bs))
	const interval = 50 * time.Millisecond
	m, err := health.New(bal, health.Config{
		Active: &health.ActiveConfig{Interval: interval, Timeout: 40 * time.Millisecond,
			HealthyThreshold: 2, UnhealthyThreshold: 2, Probe: health.TCPProbe{}},
		// Failures from the picks below go on, but never eject: this test
		// is about the active checks.
		Outlier: &health.OutlierDetection{Interval: interval, Consecutive5xx: 1000},
	}, 0)
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background()))
	require.ErrorIs(t, m.Start(context.Background()), health.ErrStarted)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := bal.Pick(balancer.Request{})
				if err != nil {
					continue
				}
				d := balancer.DoneInfo{}
				if i%7 == 0 {
					d.Failure = balancer.GatewayFailure
				}
				r.Done(d)
			}
		})
	}
	lns[1].kill()
	start := time.Now()
	require.Eventually(t, func() bool { return !contains(bal.Serving(), lns[1].addr) }, 10*time.Second, 5*time.Millisecond)
	t.Logf("down after %v (two failed checks %v apart)", time.Since(start), interval)
	st := m.Status()
	assert.True(t, st.Endpoints[1].Down, "%+v", st)
	assert.GreaterOrEqual(t, st.Endpoints[1].Active.Failures, 2)
	assert.NotEmpty(t, st.Endpoints[1].Active.LastError)

	lns[1].revive(t)
	require.Eventually(t, func() bool { return contains(bal.Serving(), lns[1].addr) }, 10*time.Second, 5*time.Millisecond)
	close(stop)
	wg.Wait()
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	for _, e := range bal.Endpoints() {
		assert.Zero(t, e.InFlight())
	}
	for _, l := range lns {
		l.kill()
	}
}

// Cancelling the context stops the Monitor as Close does, even with a
// check hanging on a backend that never answers.
func TestStartStopsOnCancel(t *testing.T) {
	defer goleak.VerifyNone(t)
	bal := balancer.New(leastconn.Config{})
	require.NoError(t, bal.Update([]balancer.Backend{{ID: "hang"}}))
	entered := make(chan struct{}, 1)
	hang := health.ProbeFunc(func(ctx context.Context, _ *balancer.Endpoint) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	})
	m, err := health.New(bal, health.Config{Active: &health.ActiveConfig{
		Interval: 10 * time.Millisecond, Timeout: time.Hour - time.Minute, Probe: hang}}, 0)
	if err != nil {
		// A timeout above the interval may be refused; use the interval.
		m, err = health.New(bal, health.Config{Active: &health.ActiveConfig{
			Interval: time.Hour, Timeout: time.Hour, Probe: hang}}, 0)
	}
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, m.Start(ctx))
	select {
	case <-entered:
	case <-time.After(2 * time.Hour / 1000):
	}
	cancel()
	require.NoError(t, m.Close())
}

func contains(eps []*balancer.Endpoint, id string) bool {
	for _, e := range eps {
		if e.ID == id {
			return true
		}
	}
	return false
}
