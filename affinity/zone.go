package affinity

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// ErrZoneConfig is wrapped by the errors Zones.Build and Zones.Shares
// return for a Zones they cannot use.
var ErrZoneConfig = errors.New("affinity: invalid zone configuration")

// DefaultMinClusterSize is Envoy's min_cluster_size: a set of fewer
// endpoints is not routed by zone in ZoneAware mode.
const DefaultMinClusterSize = 6

// ZoneMode says how Zones shares requests among zones.
type ZoneMode uint8

const (
	// ZoneAware is Envoy's zone-aware routing: local as far as the local
	// zone's share of the endpoints matches its share of the proxies, the
	// rest to the zones with capacity to spare.
	ZoneAware ZoneMode = iota
	// PreferClose is Kubernetes' trafficDistribution: PreferClose
	// (PreferSameZone): the local zone's endpoints whenever it has any.
	PreferClose
)

// String returns the mode's name.
func (m ZoneMode) String() string {
	switch m {
	case ZoneAware:
		return "ZoneAware"
	case PreferClose:
		return "PreferClose"
	}
	return fmt.Sprintf("ZoneMode(%d)", uint8(m))
}

// Zones is a balancer.Builder that routes by zone (Backend.Zone) in front
// of any algorithm: it keeps requests in the proxy's own zone, Local, as
// far as the endpoints there can take them, and Builder picks within a
// zone. The zero Zones is not usable: Local and Builder are required.
//
// # PreferClose
//
// PreferClose is Kubernetes' trafficDistribution: PreferClose (renamed
// PreferSameZone by KEP-3015; both names mean the same). The EndpointSlice
// controller hints every ready endpoint that has a zone "for" its own zone
// and leaves an endpoint without a zone unhinted
// (k8s.io/endpointslice/trafficdist, preferCloseHeuristic.update).
// kube-proxy uses only the endpoints hinted for its node's zone when every
// ready endpoint carries a hint and at least one is for its zone, and all
// endpoints otherwise: hints are used all or nothing (pkg/proxy/topology.go,
// topologyModeFromHints and CategorizeEndpoints). So here: the local
// zone's endpoints when it has any and every endpoint has a zone, all
// endpoints otherwise. One endpoint with an empty Zone turns zone routing
// off for the whole set, as a missing hint does in kube-proxy. There is
// no minimum size, and the proxies' zones do not count: a zone that holds
// few of the endpoints but as many proxies as the others takes as many
// requests as the others.
//
// # ZoneAware
//
// ZoneAware is Envoy's zone-aware routing (ZoneAwareLoadBalancerBase in
// source/extensions/load_balancing_policies/common/load_balancer_impl.cc).
// It knows the share of the proxy fleet in each zone (Envoy's "local
// cluster", here Proxies) and sends across zones just enough to keep every
// zone's endpoints equally loaded when every proxy does the same. With U_z
// a zone's share of the endpoints and P_z its share of the proxies:
//
//   - routing is off (every endpoint, as Builder spreads them) when the
//     set has fewer than MinClusterSize endpoints, when the endpoints are
//     in fewer than two zones, when the proxies are in fewer than two
//     zones, or when the local zone has no proxies
//     (earlyExitNonLocalityRouting);
//   - when U_local > 0 and U_local >= P_local, every request stays in the
//     local zone (LocalityDirect);
//   - otherwise the share U_local/P_local of the requests stays (none when
//     the local zone has no endpoints) and the rest goes to the other zones
//     in proportion to their residual capacity, U_z - P_z where that is
//     positive (LocalityResidual; calculateLocalityPercentages,
//     tryChooseLocalLocalityHosts). Zones of proxies without endpoints
//     count in the proxies' total.
//
// Envoy counts hosts; U_z here is the zone's share of the endpoints'
// weight: the same when the weights are equal, and what keeps the load
// per unit of weight even when they are not. Envoy computes the shares in
// hundredths of a percent, truncated; here they are exact fractions, so a
// set that balances in exact arithmetic stays local. Where Envoy's
// truncation leaves no residual capacity anywhere it picks a zone
// uniformly; here that part goes to every endpoint. Envoy's
// routing_enabled, force_locality_direct_routing and fail_traffic_on_panic
// are not offered.
//
// A worked example: zones a, b, c hold 2, 6 and 4 endpoints of equal
// weight, and the proxies are spread evenly (P = 1/3 each). A proxy in a
// keeps (2/12)/(1/3) = 1/2 of its requests local; b has residual capacity
// 6/12 - 1/3 = 1/6 and c none (4/12 - 1/3 = 0), so the other half goes to
// b. Proxies in b and c keep everything local. Each endpoint then takes
// 1/12 of the fleet's requests: a's get 1/3 × 1/2 over 2, b's (1/3 + 1/3 ×
// 1/2) over 6, c's 1/3 over 4. With PreferClose a's endpoints would get
// 1/6 each, twice the mean.
//
// # Health
//
// The health package admits only healthy endpoints, unless it is in panic,
// when it admits all of them. So an endpoint passed to Build that is not
// Healthy means panic, and, as Envoy skips zone routing in panic, requests
// then go to every endpoint of every zone, in either mode. (Without a
// Gate, an endpoint marked down by hand has the same effect.) Outside
// panic, a local zone whose endpoints are all unhealthy is a local zone
// without endpoints.
//
// # Picks
//
// Build makes a Picker of Builder for each zone that receives requests
// and one over every endpoint. A pick draws one uniform 64-bit number and
// takes the zone whose range of draws holds it (the local zone first,
// then the others in the byte order of their names): from Rand, or, for a request with a
// hash, from the hash through SplitMix64's finaliser, so that a key
// always goes to the same zone and then to its endpoint in that zone's
// table. Which zone a key goes to depends on the hash and the zones'
// shares alone, so every proxy of a zone agrees: the draw and the ranges
// are a wire format, pinned by a golden test. A retry (Attempt k > 0)
// goes to the zone its draw gives (the first attempt's zone, for a
// hashed request), whose Picker steers it away from the earlier
// endpoints; when that zone has k endpoints or fewer, or its Picker
// answers balancer.ErrNoEndpoints, it goes to the Picker of every
// endpoint. A pick that stays local makes no draw. Picks are lock-free
// and allocate nothing.
//
// Memory: each zone's table is as large as Builder makes it for the
// zone's endpoints (a Maglev table is TableSize slots whatever the number
// of endpoints), besides the table of every endpoint; TableBytes reports
// the sum.
//
// # Interfaces
//
// Zones forwards the optional interfaces of its Builder
// (balancer.LatencyDecayer, balancer.FailurePenalizer,
// balancer.TotalInFlightTracker, balancer.ConsistentHasher), answering
// the Balancer's defaults for those it does not implement. Its Pickers
// implement balancer.TableSizer.
//
// A Zones is a value; Build does not modify it and may be called from
// several goroutines at once if Builder's Build may. The Pickers it
// builds are safe for concurrent use by multiple goroutines. The caller
// must not modify Proxies while a Balancer uses the Zones.
type Zones struct {
	// Local is the proxy's own zone. Required: an empty Local is an
	// error. Endpoints with an empty Zone are in zone "", never local.
	Local string
	// Builder builds the Picker within each zone, and over every endpoint
	// when requests may go anywhere. Required.
	Builder balancer.Builder
	// Mode says how requests are shared among zones. Zero means
	// ZoneAware.
	Mode ZoneMode
	// MinClusterSize is Envoy's min_cluster_size, for ZoneAware: a set of
	// fewer endpoints than this is not routed by zone. Zero means 6
	// (DefaultMinClusterSize); 1 sets no minimum; negative is an error.
	// PreferClose has no minimum, as in Kubernetes.
	MinClusterSize int
	// Proxies is, for ZoneAware, the share of the proxy fleet in each zone
	// (counts or fractions: only their ratios matter), Envoy's local
	// cluster. Zones missing from the map have no proxies. Negative, NaN
	// and infinite values are errors. Nil means the proxies are spread as
	// the endpoints' capacity is, so every request stays local when the
	// local zone has endpoints, and goes anywhere when it has none.
	Proxies map[string]float64
	// Rand draws the zone of requests without a hash. Concurrent picks
	// call its Uint64 concurrently, so it must be safe for concurrent use,
	// as balancer.NewSource's seeded sources are. Nil means math/rand/v2's
	// top-level functions, which are per-thread and lock-free: the right
	// choice for a busy proxy.
	Rand rand.Source
}

// validate checks z's fields.
func (z Zones) validate() error {
	switch {
	case z.Local == "":
		return fmt.Errorf("%w: Local is empty", ErrZoneConfig)
	case z.Builder == nil:
		return fmt.Errorf("%w: Builder is nil", ErrZoneConfig)
	case z.Mode != ZoneAware && z.Mode != PreferClose:
		return fmt.Errorf("%w: unknown Mode %v", ErrZoneConfig, z.Mode)
	case z.MinClusterSize < 0:
		return fmt.Errorf("%w: MinClusterSize is %d, want 0 or more", ErrZoneConfig, z.MinClusterSize)
	}
	for zone, v := range z.Proxies {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: Proxies[%q] is %v, want a finite share of 0 or more", ErrZoneConfig, zone, v)
		}
	}
	return nil
}

// Build returns a Picker over eps that routes by zone as z says, made of
// Pickers of z.Builder. When zone routing is off it is the Builder's
// Picker of eps itself.
//
// It returns an error wrapping ErrZoneConfig for a Zones it cannot use,
// one wrapping balancer.ErrInvalidBackend for a nil, empty-ID or
// duplicate endpoint, and the Builder's errors. An empty set gives the
// Builder's Picker of the empty set.
func (z Zones) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	s, routes, err := z.prepare(eps)
	if err != nil {
		return nil, err
	}
	all, err := z.Builder.Build(eps)
	if err != nil || routes == nil {
		return all, err
	}
	return z.assemble(s, routes, all)
}

// Shares returns the share of a proxy's requests that each zone of eps
// receives, as Build would route them: by zone when routing is on, and by
// the zones' shares of the weight when it is off (what a weighted
// algorithm gives over every endpoint; a hash table's shares are close to
// it). The shares of a non-empty set add up to 1; zones that receive
// nothing are left out.
// It returns the errors Build returns for z and eps, but not the
// Builder's, which it does not call.
func (z Zones) Shares(eps []*balancer.Endpoint) (map[string]float64, error) {
	s, routes, err := z.prepare(eps)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	if routes == nil {
		routes = []route{{zone: everyZone, share: 1}}
	}
	for _, r := range routes {
		if r.zone != everyZone {
			out[s.names[r.zone]] += r.share
			continue
		}
		for i, name := range s.names {
			out[name] += r.share * s.weight[i] / s.total
		}
	}
	return out, nil
}

// LatencyDecay implements balancer.LatencyDecayer: the Builder's, or
// balancer.DefaultLatencyDecay when it does not say.
func (z Zones) LatencyDecay() time.Duration {
	if d, ok := z.Builder.(balancer.LatencyDecayer); ok && d.LatencyDecay() > 0 {
		return d.LatencyDecay()
	}
	return balancer.DefaultLatencyDecay
}

// FailureLatency implements balancer.FailurePenalizer: the Builder's, or
// balancer.DefaultFailurePenalty when it does not say.
func (z Zones) FailureLatency() time.Duration {
	if p, ok := z.Builder.(balancer.FailurePenalizer); ok && p.FailureLatency() > 0 {
		return p.FailureLatency()
	}
	return balancer.DefaultFailurePenalty
}

// TrackTotalInFlight implements balancer.TotalInFlightTracker: the
// Builder's answer, false when it does not implement it. A bounded-load
// Picker (ring hash or Maglev with a BalanceFactor) within a zone bounds
// its endpoints by the total in flight across every zone, a looser bound
// than over the zone alone.
func (z Zones) TrackTotalInFlight() bool {
	t, ok := z.Builder.(balancer.TotalInFlightTracker)
	return ok && t.TrackTotalInFlight()
}

// ConsistentHash implements balancer.ConsistentHasher: the Builder's
// answer, false when it does not implement it.
func (z Zones) ConsistentHash() bool {
	h, ok := z.Builder.(balancer.ConsistentHasher)
	return ok && h.ConsistentHash()
}
