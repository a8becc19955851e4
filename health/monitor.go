package health

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// Monitor runs a Config's health features for one Balancer: it marks
// endpoints down or ejected on their shared state, and stands between
// discovery and the Builder as the Balancer's Gate, so that every
// transition publishes a new Picker off the pick path. Picks stay
// lock-free and allocation-free; a Done that ends a run of failures long
// enough to eject takes the Monitor's lock briefly, other Dones do not.
//
// A Monitor runs on injected time: Advance, DueChecks and CheckResult
// drive it on any clock (the simulator's virtual one), and Start drives
// them on the real clock with the probes of Config.Active.
//
// A Monitor is safe for concurrent use by multiple goroutines.
type Monitor struct {
	bal    *balancer.Balancer
	cfg    Config
	hashed bool // the Builder maps keys by table: slow start by two tables

	// mu guards everything below. It is never held while calling the
	// Balancer, whose Rebuild calls back into Admit.
	mu     sync.Mutex
	rng    *rand.Rand
	state  map[string]*endpointState // by ID, for the endpoints of the last Admit
	set    []*balancer.Endpoint      // the endpoints of the last Admit
	base   **balancer.Endpoint       // the first element of the slice set was copied from
	active *active                   // nil without Config.Active
	panic  bool
	stats  Counters
	// started says the Monitor has seen a set: endpoints that join later
	// ramp up in slow start.
	started bool
	// nextEval is the next outlier evaluation; nextRamp the next
	// slow-start step; both Unix nanoseconds, math.MaxInt64 for none.
	nextEval int64
	nextRamp int64
	hashRamp []rampEntry // the hash picker's ramping endpoints, for BuildPicker
	events   []Event     // to deliver once mu is let go of

	run *runner // nil unless Start was called
}

// endpointState is what the Monitor keeps per endpoint ID beside the
// shared balancer.Health.
type endpointState struct {
	e      *balancer.Endpoint
	reason Reason // why it was ejected
	// completed and failures at the last outlier evaluation.
	completed, failures uint64
	back                int64 // when its last ejection ended
	// rampFrom is the earliest Since that puts the endpoint in slow start:
	// past its Since at the Monitor's first set, zero for later ones.
	rampFrom int64
	weight   uint32  // the weight it serves with; 0 if it does not
	ramp     float64 // its slow-start factor, 1 when at full weight
}

// Reason says why an endpoint was ejected.
type Reason uint8

const (
	// NotEjected is the Reason of an endpoint that is not ejected.
	NotEjected Reason = iota
	// Consecutive5xx: a run of failures of any kind.
	Consecutive5xx
	// ConsecutiveGatewayFailure: a run of gateway failures.
	ConsecutiveGatewayFailure
	// SuccessRate: a success rate far below its peers'.
	SuccessRate
	// FailurePercentage: a failure percentage above the threshold.
	FailurePercentage
)

// String returns the reason in Envoy's words.
func (r Reason) String() string {
	switch r {
	case NotEjected:
		return ""
	case Consecutive5xx:
		return "consecutive_5xx"
	case ConsecutiveGatewayFailure:
		return "consecutive_gateway_failure"
	case SuccessRate:
		return "success_rate"
	case FailurePercentage:
		return "failure_percentage"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Counters count a Monitor's transitions since it was made.
type Counters struct {
	// Ejections by the detector that ejected, indexed by Reason.
	Ejections [5]uint64
	// Overflow counts outliers left in because MaxEjectionPercent were
	// already ejected, or the enforcement draw spared them.
	Overflow uint64
	// Down and Up count active-check transitions.
	Down, Up uint64
	// Panics counts entries into panic.
	Panics uint64
}

// EventKind is what changed.
type EventKind uint8

// The event kinds.
const (
	EventEjected EventKind = iota + 1
	EventReturned
	EventDown
	EventUp
	EventPanic
	EventPanicOver
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventEjected:
		return "ejected"
	case EventReturned:
		return "returned"
	case EventDown:
		return "down"
	case EventUp:
		return "up"
	case EventPanic:
		return "panic"
	case EventPanicOver:
		return "panic over"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one health transition.
type Event struct {
	Time int64 // Unix nanoseconds
	Kind EventKind
	// Endpoint is the endpoint it happened to; nil for panic events.
	Endpoint *balancer.Endpoint
	// Reason is the detector, for EventEjected.
	Reason Reason
	// Until is when an ejection ends, for EventEjected.
	Until int64
}

// New attaches a Monitor running cfg to bal, at now (Unix nanoseconds;
// zero means time.Now()), and returns it; bal then publishes only what the
// Monitor admits. A Balancer takes one Monitor: New replaces any Gate it
// had. It returns an error wrapping ErrConfig when cfg is out of range.
func New(bal *balancer.Balancer, cfg Config, now int64) (*Monitor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	m := &Monitor{
		bal:      bal,
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x6865616c7468)),
		state:    map[string]*endpointState{},
		nextEval: math.MaxInt64,
		nextRamp: math.MaxInt64,
	}
	if h, ok := bal.Builder().(balancer.ConsistentHasher); ok {
		m.hashed = h.ConsistentHash()
	}
	if cfg.Active != nil {
		m.active = newActive(*cfg.Active, cfg.Seed)
	}
	w := balancer.FailureWatch{}
	if o := cfg.Outlier; o != nil {
		m.nextEval = now + int64(o.Interval)
		w = balancer.FailureWatch{
			Consecutive:        uint32(o.Consecutive5xx),
			ConsecutiveGateway: uint32(o.ConsecutiveGatewayFailure),
			Trip:               m.trip,
		}
	}
	if err := bal.SetGate(now, m, w); err != nil {
		return nil, err
	}
	return m, nil
}

// Admit implements balancer.Gate: it keeps the Monitor's view of the set
// in step with discovery, and admits the healthy endpoints (all of them in
// panic) with their slow-start weights. The Balancer calls it; others
// need not.
func (m *Monitor) Admit(now int64, all, dst []*balancer.Endpoint) []*balancer.Endpoint {
	m.mu.Lock()
	m.sync(all, now)
	dst = m.admit(now, dst)
	events := m.takeEvents()
	m.mu.Unlock()
	m.deliver(events)
	return dst
}

// sync makes the Monitor's per-endpoint state follow all. A Rebuild
// passes the slice of the last Update again: that costs nothing.
func (m *Monitor) sync(all []*balancer.Endpoint, now int64) {
	if len(all) == len(m.set) && (len(all) == 0 || &all[0] == m.base) {
		return
	}
	if len(all) > 0 {
		m.base = &all[0]
	}
	m.set = append(m.set[:0], all...)
	seen := make(map[string]struct{}, len(all))
	var added []*balancer.Endpoint
	for _, e := range all {
		seen[e.ID] = struct{}{}
		if s := m.state[e.ID]; s != nil {
			s.e = e
			continue
		}
		s := &endpointState{e: e, completed: e.Completed(), failures: e.Failures()}
		if !m.started {
			s.rampFrom = e.Health().Since + 1
		}
		m.state[e.ID] = s
		added = append(added, e)
	}
	for id := range m.state {
		if _, ok := seen[id]; !ok {
			delete(m.state, id)
		}
	}
	m.started = m.started || len(all) > 0
	if m.active == nil {
		return
	}
	m.active.sync(all, now)
	for _, e := range added {
		// A newcomer starts as ActiveConfig.StartUnhealthy says.
		if healthy, known := m.active.healthy(e.ID); known && !healthy && e.SetDown(true, now) {
			m.events = append(m.events, Event{Time: now, Kind: EventDown, Endpoint: e})
		}
	}
}

// admit appends the endpoints that serve at now to dst, entering or
// leaving panic as the healthy share says.
func (m *Monitor) admit(now int64, dst []*balancer.Endpoint) []*balancer.Endpoint {
	healthy := 0
	for _, e := range m.set {
		if e.Healthy() {
			healthy++
		}
	}
	panicking := len(m.set) > 0 && float64(healthy)*100 < m.cfg.PanicThreshold*float64(len(m.set))
	if panicking != m.panic {
		m.panic = panicking
		kind := EventPanicOver
		if panicking {
			kind = EventPanic
			m.stats.Panics++
		}
		m.events = append(m.events, Event{Time: now, Kind: kind})
	}
	start := len(dst)
	for _, e := range m.set {
		s := m.state[e.ID]
		s.weight, s.ramp = 0, 1
		if panicking || e.Healthy() {
			dst = append(dst, e)
			s.weight = e.Weight
		}
	}
	return m.rampWeights(now, dst, start)
}

// trip is the Balancer's FailureWatch.Trip: a run of failures reached its
// threshold on e.
func (m *Monitor) trip(e *balancer.Endpoint, f balancer.Failure, now int64) {
	o := m.cfg.Outlier
	reason, enforcing := Consecutive5xx, o.EnforcingConsecutive5xx
	if f == balancer.GatewayFailure {
		reason, enforcing = ConsecutiveGatewayFailure, o.EnforcingConsecutiveGatewayFailure
	}
	m.mu.Lock()
	ejected := m.state[e.ID] != nil && m.eject(e, reason, enforcing, now)
	events := m.takeEvents()
	m.mu.Unlock()
	m.deliver(events)
	if ejected {
		_ = m.bal.Rebuild(now)
		m.wake()
	}
}

// eject ejects e for reason if the enforcement draw and the ejection cap
// allow it, and reports whether it did.
func (m *Monitor) eject(e *balancer.Endpoint, reason Reason, enforcing float64, now int64) bool {
	if !e.Healthy() && e.Health().Ejected {
		return false
	}
	if enforcing < 100 && m.rng.Float64()*100 >= enforcing {
		m.stats.Overflow++
		return false
	}
	ejected := 0
	for _, x := range m.set {
		if x.Health().Ejected {
			ejected++
		}
	}
	// Envoy: eject while the share ejected stays within the cap, and
	// always allow one.
	if ejected > 0 && float64(ejected+1)*100 > m.cfg.Outlier.MaxEjectionPercent*float64(len(m.set)) {
		m.stats.Overflow++
		return false
	}
	o := m.cfg.Outlier
	n := int64(e.Health().Ejections + 1)
	d := int64(o.MaxEjectionTime)
	if n <= d/int64(o.BaseEjectionTime) {
		d = n * int64(o.BaseEjectionTime)
	}
	until := now + d
	if !e.Eject(until) {
		return false
	}
	m.state[e.ID].reason = reason
	m.stats.Ejections[reason]++
	m.events = append(m.events, Event{Time: now, Kind: EventEjected, Endpoint: e, Reason: reason, Until: until})
	return true
}

// Advance does what is due at now (Unix nanoseconds): ends ejections whose
// time is up, runs the outlier evaluation every Interval, and steps slow
// start; it publishes a new Picker when anything changed. It returns when
// it next has something to do, math.MaxInt64 for never; active checks
// come due on their own (see DueChecks and NextCheck). Start calls it on
// the real clock; a simulator calls it on its own.
func (m *Monitor) Advance(now int64) int64 {
	m.mu.Lock()
	changed := m.advance(now)
	events := m.takeEvents()
	m.mu.Unlock()
	m.deliver(events)
	if changed {
		// The rebuild's Admit sets the next slow-start step.
		_ = m.bal.Rebuild(now)
	}
	return m.Next()
}

func (m *Monitor) advance(now int64) bool {
	changed := false
	for _, e := range m.set {
		h := e.Health()
		if h.Ejected && h.EjectedUntil <= now && e.Uneject(now) {
			m.state[e.ID].reason = NotEjected
			m.state[e.ID].back = now
			m.events = append(m.events, Event{Time: now, Kind: EventReturned, Endpoint: e})
			changed = true
		}
	}
	if o := m.cfg.Outlier; o != nil && now >= m.nextEval {
		if m.evaluate(now) {
			changed = true
		}
		m.nextEval = now + int64(o.Interval)
	}
	if now >= m.nextRamp {
		m.nextRamp = math.MaxInt64 // until the rebuild's Admit sets the next step
		changed = true
	}
	return changed
}

// next returns the earliest time Advance has something to do.
func (m *Monitor) next() int64 {
	next := min(m.nextEval, m.nextRamp)
	for _, e := range m.set {
		if h := e.Health(); h.Ejected {
			next = min(next, h.EjectedUntil)
		}
	}
	return next
}

// Next returns when Advance next has something to do (Unix nanoseconds),
// math.MaxInt64 for never.
func (m *Monitor) Next() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next()
}

func (m *Monitor) takeEvents() []Event {
	if len(m.events) == 0 || m.cfg.OnEvent == nil {
		m.events = m.events[:0]
		return nil
	}
	ev := m.events
	m.events = nil
	return ev
}

func (m *Monitor) deliver(events []Event) {
	for _, ev := range events {
		m.cfg.OnEvent(ev)
	}
}
