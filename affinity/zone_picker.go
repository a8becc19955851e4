package affinity

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// The Pickers of zone routing: one Picker of the wrapped Builder per zone
// that receives requests, chosen by a 64-bit draw against cumulative
// limits, and one over every endpoint for retries and fallbacks.

// zoneRoute is one zone's Picker and its range of draws: those below limit
// and at or above the previous route's limit.
type zoneRoute struct {
	limit uint64
	p     balancer.Picker
	n     int  // endpoints p picks from
	every bool // p is the Picker of every endpoint
}

// zonePicker routes requests among several zones. Immutable.
type zonePicker struct {
	routes []zoneRoute
	limits []uint64 // the routes' limits but the last
	all    balancer.Picker
	src    rand.Source
}

// localPicker keeps every request in one zone. Immutable.
type localPicker struct {
	zone balancer.Picker
	n    int
	all  balancer.Picker
}

// assemble builds the Picker of routes over s, with all the Picker of
// every endpoint.
func (z Zones) assemble(s *zoneSet, routes []route, all balancer.Picker) (balancer.Picker, error) {
	parts := make([]zoneRoute, len(routes))
	var cum float64
	for i, r := range routes {
		part := zoneRoute{p: all, n: s.n, every: true}
		if r.zone != everyZone {
			p, err := z.Builder.Build(s.eps[r.zone])
			if err != nil {
				return nil, fmt.Errorf("affinity: zone %q: %w", s.names[r.zone], err)
			}
			part = zoneRoute{p: p, n: len(s.eps[r.zone])}
		}
		cum += r.share
		part.limit = drawLimit(cum)
		parts[i] = part
	}
	parts[len(parts)-1].limit = math.MaxUint64
	if len(parts) == 1 && parts[0].every {
		return all, nil
	}
	if len(parts) == 1 {
		return &localPicker{zone: parts[0].p, n: parts[0].n, all: all}, nil
	}
	limits := make([]uint64, len(parts)-1)
	for i := range limits {
		limits[i] = parts[i].limit
	}
	return &zonePicker{routes: parts, limits: limits, all: all, src: z.Rand}, nil
}

// drawLimit turns a cumulative share in [0, 1] into a limit on a 64-bit
// draw.
func drawLimit(f float64) uint64 {
	if f >= 1 {
		return math.MaxUint64
	}
	return uint64(f * (1 << 64))
}

// zoneDraw is a key's zone draw: SplitMix64's finaliser (Steele, Lea and
// Flood, 2014) over the request hash salted with "zonedraw", so that it is
// independent of the tables' own use of the hash and of the health
// package's slow-start draw. With the limits, it decides which zone a key
// goes to on every proxy: it is a wire format.
func zoneDraw(h uint64) uint64 {
	return xrand.Mix64(h ^ 0x7a6f6e6564726177) // "zonedraw"
}

// Pick chooses the zone by the request's hash, or at random, and picks in
// it (see Zones).
func (p *zonePicker) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	var u uint64
	if req.HasHash {
		u = zoneDraw(req.Hash)
	} else {
		u = xrand.Uint64(p.src)
	}
	// The first route whose limit is above u; the last takes the rest.
	// A draw is random, so a branch on it is mispredicted half the time:
	// a few routes are counted without one (the borrow of u - l is 1
	// when u < l).
	lo := 0
	if lim := p.limits; len(lim) <= 4 {
		for _, l := range lim {
			_, below := bits.Sub64(u, l, 0)
			lo += int(1 - below)
		}
	} else {
		hi := len(lim)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if u < lim[mid] {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
	}
	r := &p.routes[lo]
	return pickIn(r.p, r.n, p.all, req)
}

// Pick picks in the local zone.
func (p *localPicker) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	return pickIn(p.zone, p.n, p.all, req)
}

// pickIn picks from zone, a Picker of n endpoints, or from all for a retry
// the zone cannot send to a new endpoint or a zone without endpoints.
func pickIn(zone balancer.Picker, n int, all balancer.Picker, req balancer.Request) (*balancer.Endpoint, error) {
	if req.Attempt >= n {
		return all.Pick(req)
	}
	e, err := zone.Pick(req)
	if err != nil && errors.Is(err, balancer.ErrNoEndpoints) {
		return all.Pick(req)
	}
	return e, err
}

// TableBytes implements balancer.TableSizer: the tables of every zone's
// Picker and of the Picker of every endpoint.
func (p *zonePicker) TableBytes() int {
	n := tableBytes(p.all)
	for _, r := range p.routes {
		if !r.every {
			n += tableBytes(r.p)
		}
	}
	return n
}

// TableBytes implements balancer.TableSizer: the tables of the local
// zone's Picker and of the Picker of every endpoint.
func (p *localPicker) TableBytes() int { return tableBytes(p.zone) + tableBytes(p.all) }

func tableBytes(p balancer.Picker) int {
	if s, ok := p.(balancer.TableSizer); ok {
		return s.TableBytes()
	}
	return 0
}
