package health

import (
	"math"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// rampScale multiplies every weight while some endpoint ramps up, so that
// a ramping endpoint's share can be finer than a whole unit of weight:
// steps of 1% of its weight.
const rampScale = 100

// rampSteps is how many times during its window an endpoint's weight is
// raised: each step rebuilds the Picker.
const rampSteps = 20

// rampWeights gives the endpoints dst[start:] their slow-start weights at
// now (for hash pickers, their share of their own keys; see hashramp.go),
// and sets when the ramp next steps. The endpoints of the Monitor's first
// set do not ramp up: a proxy that starts has no older endpoints to shift
// their traffic to.
func (m *Monitor) rampWeights(now int64, dst []*balancer.Endpoint, start int) []*balancer.Endpoint {
	m.nextRamp = math.MaxInt64
	m.hashRamp = nil
	ss := m.cfg.SlowStart
	if ss == nil {
		return dst
	}
	window := int64(ss.Window)
	ramping := false
	var maxWeight uint32
	for _, e := range dst[start:] {
		if m.ramps(e, now) {
			ramping = true
		}
		maxWeight = max(maxWeight, e.Weight)
	}
	if !ramping {
		return dst
	}
	step := max(window/rampSteps, int64(time.Millisecond))
	if m.hashed {
		for _, e := range dst[start:] {
			since := e.Health().Since
			if elapsed := now - since; m.ramps(e, now) {
				f := rampFactor(*ss, elapsed)
				m.state[e.ID].ramp = f
				m.hashRamp = append(m.hashRamp, rampEntry{e: e, limit: rampLimit(f)})
				m.nextRamp = min(m.nextRamp, since+min((elapsed/step+1)*step, window))
			}
		}
		return dst
	}
	scale := uint64(min(rampScale, math.MaxUint32/uint64(maxWeight)))
	for i, e := range dst[start:] {
		s := m.state[e.ID]
		since := e.Health().Since
		elapsed := now - since
		w := uint64(e.Weight) * scale
		if m.ramps(e, now) {
			f := rampFactor(*ss, elapsed)
			s.ramp = f
			w = max(1, uint64(math.Round(float64(w)*f)))
			m.nextRamp = min(m.nextRamp, since+min((elapsed/step+1)*step, window))
		}
		s.weight = uint32(w)
		dst[start+i] = e.WithWeight(uint32(w))
	}
	return dst
}

// rampFactor is Envoy's slow-start factor after elapsed nanoseconds of
// the window: max(minWeightPercent/100, (max(elapsed, 1ms)/window)^(1/aggression)).
func rampFactor(ss SlowStart, elapsed int64) float64 {
	t := float64(max(elapsed, int64(time.Millisecond))) / float64(ss.Window)
	return max(ss.MinWeightPercent/100, math.Pow(min(t, 1), 1/ss.Aggression))
}

// ramps reports whether e is in its slow-start window at now.
func (m *Monitor) ramps(e *balancer.Endpoint, now int64) bool {
	since := e.Health().Since
	return now-since < int64(m.cfg.SlowStart.Window) && since >= m.state[e.ID].rampFrom
}
