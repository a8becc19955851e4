package affinity

import (
	"fmt"
	"slices"

	"github.com/lbkit/lbkit/balancer"
)

// The plan of zone routing: which zones receive what share of a proxy's
// requests (see Zones).

// zoneSet is an endpoint set grouped by zone.
type zoneSet struct {
	names  []string               // sorted
	eps    [][]*balancer.Endpoint // by zone, in the order of the set
	weight []float64              // the zone's capacity: the sum of its weights
	total  float64                // the sum of weight
	local  int                    // the index of Local; -1 when no endpoint is there
	n      int                    // endpoints
	panic  bool                   // some endpoint is not healthy
	blank  bool                   // some endpoint has no zone
}

// route is a zone's share of the requests, in the order of the draw.
type route struct {
	zone  int // index in zoneSet.names, or everyZone
	share float64
}

// everyZone is the route of the Picker over every endpoint.
const everyZone = -1

// prepare validates z and eps, groups eps by zone and plans the routes:
// nil when zone routing is off.
func (z Zones) prepare(eps []*balancer.Endpoint) (*zoneSet, []route, error) {
	if err := z.validate(); err != nil {
		return nil, nil, err
	}
	if err := balancer.Validate(eps); err != nil {
		return nil, nil, fmt.Errorf("affinity: %w", err)
	}
	s := group(eps, z.Local)
	if len(eps) == 0 || s.panic {
		return s, nil, nil
	}
	if z.Mode == PreferClose {
		// One zone is the same as none: every endpoint.
		if s.blank || s.local < 0 || len(s.names) == 1 {
			return s, nil, nil
		}
		return s, []route{{zone: s.local, share: 1}}, nil
	}
	return s, z.zoneAware(s), nil
}

// group sorts eps into zones.
func group(eps []*balancer.Endpoint, local string) *zoneSet {
	s := &zoneSet{local: -1, n: len(eps)}
	index := map[string]int{}
	for _, e := range eps {
		if _, ok := index[e.Zone]; !ok {
			index[e.Zone] = 0
			s.names = append(s.names, e.Zone)
		}
	}
	slices.Sort(s.names)
	for i, name := range s.names {
		index[name] = i
		if name == local {
			s.local = i
		}
	}
	s.eps = make([][]*balancer.Endpoint, len(s.names))
	s.weight = make([]float64, len(s.names))
	for _, e := range eps {
		i := index[e.Zone]
		s.eps[i] = append(s.eps[i], e)
		s.weight[i] += float64(max(e.Weight, 1))
		s.total += float64(max(e.Weight, 1))
		s.panic = s.panic || !e.Healthy()
		s.blank = s.blank || e.Zone == ""
	}
	return s
}

// same is the relative tolerance within which two shares are equal: the
// shares are ratios of sums, and a set that balances exactly should not
// spill a rounding error.
const same = 1e-9

// zoneAware plans Envoy's zone-aware routes for s, or nil for none.
func (z Zones) zoneAware(s *zoneSet) []route {
	minSize := z.MinClusterSize
	if minSize == 0 {
		minSize = DefaultMinClusterSize
	}
	if s.n < minSize || len(s.names) < 2 {
		return nil
	}
	up := make([]float64, len(s.names)) // U_z
	for i, w := range s.weight {
		up[i] = w / s.total
	}
	var proxies []float64 // P_z
	var pLocal float64
	switch {
	case z.Proxies != nil:
		var ok bool
		if proxies, pLocal, ok = z.proxyShares(s); !ok {
			return nil
		}
	case s.local < 0:
		// Spread as the capacity is, no proxy would be in our zone: Envoy
		// gives up on a local cluster without hosts in the local zone.
		return nil
	default:
		proxies, pLocal = up, up[s.local]
	}
	var uLocal float64
	if s.local >= 0 {
		uLocal = up[s.local]
		if uLocal >= pLocal*(1-same) {
			return []route{{zone: s.local, share: 1}}
		}
	}
	keep := uLocal / pLocal
	var routes []route
	if keep > 0 {
		routes = append(routes, route{zone: s.local, share: keep})
	}
	start := len(routes)
	var residual float64
	for i := range s.names {
		if r := up[i] - proxies[i]; i != s.local && r > same*up[i] {
			routes = append(routes, route{zone: i, share: r})
			residual += r
		}
	}
	if residual == 0 {
		// Only rounding leaves no residual capacity anywhere (the residuals
		// add up to at least P_local - U_local): spread the rest over all.
		return append(routes[:start], route{zone: everyZone, share: 1 - keep})
	}
	for i := start; i < len(routes); i++ {
		routes[i].share *= (1 - keep) / residual
	}
	return routes
}

// proxyShares returns P_z for the zones of s, and P_local, from z.Proxies;
// false when zone routing is off because the proxies are in fewer than two
// zones or none is in the local zone (Envoy's earlyExitNonLocalityRouting).
// Zones of proxies without endpoints count in the total.
func (z Zones) proxyShares(s *zoneSet) ([]float64, float64, bool) {
	// Scale by the largest share first, so that the sum cannot overflow.
	var top float64
	zones := 0
	for _, v := range z.Proxies {
		top = max(top, v)
		if v > 0 {
			zones++
		}
	}
	if zones < 2 || z.Proxies[z.Local] == 0 {
		return nil, 0, false
	}
	var sum float64
	for _, v := range z.Proxies {
		sum += v / top
	}
	local := z.Proxies[z.Local] / top / sum
	if local == 0 {
		return nil, 0, false // a share too small for a float64: none
	}
	p := make([]float64, len(s.names))
	for i, name := range s.names {
		p[i] = z.Proxies[name] / top / sum
	}
	return p, local, true
}
