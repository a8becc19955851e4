package health

import (
	"math"

	"github.com/lbkit/lbkit/balancer"
)

// NextCheck returns when the next active check comes due (Unix
// nanoseconds), math.MaxInt64 without active checks or endpoints.
func (m *Monitor) NextCheck() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		return math.MaxInt64
	}
	return m.active.next()
}

// DueChecks appends to dst the endpoints whose active check is due at now
// and returns it. Each is then in progress until CheckResult reports it:
// the caller runs Config.Active.Probe on it (Start does) or decides the
// outcome itself (the simulator does).
func (m *Monitor) DueChecks(now int64, dst []*balancer.Endpoint) []*balancer.Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		return dst
	}
	return m.active.due(now, dst)
}

// CheckResult records the outcome of e's active check, which ended at
// now: nil is a pass. After HealthyThreshold passes in a row a down
// endpoint is up again, after UnhealthyThreshold failures an up one goes
// down; a pass also ends an ejection, as Envoy's
// successful_active_health_check_uneject_host does by default (see
// OutlierDetection.KeepEjectedOnActivePass). A
// transition publishes a new Picker. A result for an endpoint that has
// left the set is ignored.
func (m *Monitor) CheckResult(e *balancer.Endpoint, err error, now int64) {
	m.mu.Lock()
	if m.active == nil {
		m.mu.Unlock()
		return
	}
	changed, healthy := m.active.report(e.ID, err, now)
	s := m.state[e.ID]
	rebuild := false
	if s != nil {
		e = s.e
		if changed && e.SetDown(!healthy, now) {
			rebuild = true
			kind := EventUp
			if healthy {
				m.stats.Up++
			} else {
				kind = EventDown
				m.stats.Down++
			}
			m.events = append(m.events, Event{Time: now, Kind: kind, Endpoint: e})
		}
		if err == nil && m.cfg.Outlier != nil && !m.cfg.Outlier.KeepEjectedOnActivePass &&
			e.Health().Ejected && e.Uneject(now) {
			s.reason, s.back = NotEjected, now
			rebuild = true
			m.events = append(m.events, Event{Time: now, Kind: EventReturned, Endpoint: e})
		}
	}
	events := m.takeEvents()
	m.mu.Unlock()
	m.deliver(events)
	if rebuild {
		_ = m.bal.Rebuild(now)
	}
}
