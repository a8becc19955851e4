package health

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// ErrStarted is returned by Start on a Monitor already started.
var ErrStarted = errors.New("health: monitor already started")

// runner is the state of a Monitor driven by the real clock.
type runner struct {
	cancel context.CancelFunc
	wakeC  chan struct{}
	loop   sync.WaitGroup // the timer loop
	probes sync.WaitGroup // checks in progress
}

// Start drives the Monitor on the real clock until ctx is done or Close
// is called: one goroutine sleeps until something is due (an outlier
// evaluation, the end of an ejection, a slow-start step, a check), and
// each active check runs in a goroutine of its own, bounded by
// ActiveConfig.Timeout. Start returns at once.
func (m *Monitor) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run != nil {
		return ErrStarted
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &runner{cancel: cancel, wakeC: make(chan struct{}, 1)}
	m.run = r
	r.loop.Go(func() { m.loop(ctx, r) })
	return nil
}

// Close stops what Start started and waits for its goroutines, checks in
// progress included, to return. It is safe to call more than once, and
// on a Monitor never started. The Balancer keeps the Monitor as its Gate,
// with the health it last saw.
func (m *Monitor) Close() error {
	m.mu.Lock()
	r := m.run
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	r.cancel()
	r.loop.Wait()
	return nil
}

// wake makes the timer loop look again at what is due.
func (m *Monitor) wake() {
	m.mu.Lock()
	r := m.run
	m.mu.Unlock()
	if r == nil {
		return
	}
	select {
	case r.wakeC <- struct{}{}:
	default:
	}
}

func (m *Monitor) loop(ctx context.Context, r *runner) {
	defer r.probes.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*balancer.Endpoint
	for {
		now := time.Now().UnixNano()
		next := m.Advance(now)
		due = m.DueChecks(now, due[:0])
		for _, e := range due {
			r.probes.Go(func() { m.check(ctx, e) })
		}
		next = min(next, m.NextCheck())
		wait := time.Duration(min(next-now, int64(time.Minute)))
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.wakeC:
		}
	}
}

// check runs one active check on e and reports it.
func (m *Monitor) check(ctx context.Context, e *balancer.Endpoint) {
	a := m.cfg.Active
	cctx, cancel := context.WithTimeout(ctx, a.Timeout)
	err := a.Probe.Check(cctx, e)
	cancel()
	if ctx.Err() != nil {
		return // stopping: the result is moot
	}
	m.CheckResult(e, err, time.Now().UnixNano())
	m.wake()
}
