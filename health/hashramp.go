package health

import (
	"math"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// Slow start for hash pickers.
//
// No proxy offers it (Envoy issue 37484 asked for it): changing a ring
// hash or Maglev endpoint's weight rebuilds the table and moves keys among
// the other endpoints too. Instead, while endpoints ramp up, the Picker
// holds two tables built by the same Builder: full, of every serving
// endpoint (the table the set will have when the ramp ends), and base, of
// those not ramping (where keys would be without the newcomers). A key
// goes where full sends it, unless that is an endpoint ramping with factor
// f: then it goes there only when the key's ramp draw, a second hash of
// the key uniform in [0, 1), is below f, and where base sends it
// otherwise. So:
//
//   - a ramping endpoint receives the share f of the keys that are its own
//     in the final table, and f only grows, so a key that moved to it stays;
//   - its other keys stay where they would be without it;
//   - every other key is where the final table puts it, at once, as
//     without slow start: no key moves between two old endpoints because
//     of the ramp, and none moves twice;
//   - when the window ends the Picker is the plain table of full.
//
// Cost: while anything ramps, each of the window's rampSteps steps
// rebuilds two tables instead of one (twice the memory of one table); a
// pick looks up full and scans the few ramping endpoints, and only a key
// of a ramping endpoint that is not its yet looks up base too. Picks
// without a hash are random anyway: full's choice is kept with probability
// f when it is ramping, and base chooses otherwise.

// rampEntry is one endpoint ramping up in a hash table, with its factor
// as a threshold on the 64-bit ramp draw.
type rampEntry struct {
	e     *balancer.Endpoint
	limit uint64
}

// rampPicker is a hash picker during slow start.
type rampPicker struct {
	full, base balancer.Picker
	ramp       []rampEntry
}

// rampDraw is a key's ramp draw: a hash of the request hash independent
// of the tables' own use of it (SplitMix64's finaliser over a salted key).
func rampDraw(h uint64) uint64 {
	return xrand.Mix64(h ^ 0x736c6f7773746172) // "slowstar"
}

func (p *rampPicker) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	e, err := p.full.Pick(req)
	if err != nil {
		return nil, err
	}
	for _, r := range p.ramp {
		if r.e != e {
			continue
		}
		u := rand.Uint64()
		if req.HasHash {
			u = rampDraw(req.Hash)
		}
		if u < r.limit || p.base == nil {
			return e, nil
		}
		return p.base.Pick(req)
	}
	return e, nil
}

// TableBytes implements balancer.TableSizer: both tables.
func (p *rampPicker) TableBytes() int {
	n := 0
	for _, t := range []balancer.Picker{p.full, p.base} {
		if s, ok := t.(balancer.TableSizer); ok && t != nil {
			n += s.TableBytes()
		}
	}
	return n
}

// BuildPicker implements balancer.PickerGate: with b, the Picker of the
// endpoints Admit admitted, composed of two tables while a hash picker's
// endpoints ramp up (see above). The Balancer calls it; others need not.
func (m *Monitor) BuildPicker(b balancer.Builder, serving []*balancer.Endpoint) (balancer.Picker, error) {
	m.mu.Lock()
	ramp := m.hashRamp
	m.mu.Unlock()
	full, err := b.Build(serving)
	if err != nil || len(ramp) == 0 {
		return full, err
	}
	rest := make([]*balancer.Endpoint, 0, len(serving))
	for _, e := range serving {
		if !ramping(ramp, e) {
			rest = append(rest, e)
		}
	}
	p := &rampPicker{full: full, ramp: ramp}
	if len(rest) > 0 {
		// With every endpoint ramping there is nowhere else to send a
		// key: it stays with its own.
		if p.base, err = b.Build(rest); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func ramping(ramp []rampEntry, e *balancer.Endpoint) bool {
	for _, r := range ramp {
		if r.e == e {
			return true
		}
	}
	return false
}

// rampLimit turns a factor in [0, 1] into a threshold on a 64-bit draw.
func rampLimit(f float64) uint64 {
	if f >= 1 {
		return math.MaxUint64
	}
	return uint64(f * (1 << 64))
}
