package health

import (
	"github.com/lbkit/lbkit/balancer"
)

// EndpointStatus is one endpoint's health as a Monitor sees it.
type EndpointStatus struct {
	ID string
	balancer.Health
	// Reason is the detector that ejected it, while Ejected.
	Reason Reason
	// Serving says whether the current Picker may choose it: healthy, or
	// in panic.
	Serving bool
	// Weight is the weight it serves with, relative to the others' (slow
	// start scales every weight while an endpoint ramps up); 0 when not
	// Serving.
	Weight uint32
	// SlowStart is its slow-start factor: 1 at full weight, less while it
	// ramps up.
	SlowStart float64
	// Active is its active-check state; the zero ActiveStatus without
	// active checks.
	Active ActiveStatus
}

// Status is a Monitor's view of its Balancer's endpoints.
type Status struct {
	// Endpoints in the order discovery reported them.
	Endpoints []EndpointStatus
	// Healthy, Down and Ejected count the endpoints; one may be both down
	// and ejected.
	Healthy, Down, Ejected int
	// Panic says whether fewer than PanicThreshold percent are healthy,
	// so that the Balancer picks among all of them.
	Panic bool
	// Counters count transitions since the Monitor was made.
	Counters Counters
}

// Status returns the current health of every endpoint and of the set.
func (m *Monitor) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Panic: m.panic, Counters: m.stats, Endpoints: make([]EndpointStatus, 0, len(m.set))}
	for _, e := range m.set {
		s := m.state[e.ID]
		es := EndpointStatus{ID: e.ID, Health: e.Health(), Weight: s.weight, SlowStart: s.ramp, Serving: s.weight > 0}
		if es.Ejected {
			es.Reason = s.reason
			st.Ejected++
		}
		if es.Down {
			st.Down++
		}
		if es.Healthy() {
			st.Healthy++
		}
		if m.active != nil {
			es.Active = m.active.status(e.ID)
		}
		st.Endpoints = append(st.Endpoints, es)
	}
	return st
}
