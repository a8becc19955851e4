package affinity_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/roundrobin"
)

// The load a fleet of proxies puts on each pod, when a proxy in every
// zone runs the same Zones.

// fleetLoad returns each pod's share of the fleet's requests, by ID, when
// proxies[z] of the fleet sit in zone z, computed exactly from Shares:
// a zone's share goes to its pods in proportion to their weight.
func fleetLoad(t *testing.T, z affinity.Zones, bs []balancer.Backend, proxies map[string]float64) map[string]float64 {
	t.Helper()
	var fleet float64
	for _, p := range proxies {
		fleet += p
	}
	weight := map[string]float64{}
	for _, b := range bs {
		weight[b.Zone] += float64(max(b.Weight, 1))
	}
	load := map[string]float64{}
	for local, p := range proxies {
		if p == 0 {
			continue
		}
		z.Local = local
		shares := mustShares(t, z, bs)
		for _, b := range bs {
			load[b.ID] += p / fleet * shares[b.Zone] * float64(max(b.Weight, 1)) / weight[b.Zone]
		}
	}
	return load
}

// sampledLoad sends n requests from each zone's proxy (proxies spread
// evenly) through a Zones of round robin, and returns each pod's share.
func sampledLoad(t *testing.T, z affinity.Zones, bs []balancer.Backend, zones []string, n int) map[string]float64 {
	t.Helper()
	load := map[string]float64{}
	for i, local := range zones {
		z.Local, z.Builder, z.Rand = local, roundrobin.Config{Rand: balancer.NewSource(uint64(i))}, balancer.NewSource(uint64(100+i))
		_, ids := zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(bs)), n, false)
		for id, c := range ids {
			load[id] += float64(c) / float64(n*len(zones))
		}
	}
	return load
}

// peak returns the largest load over the mean load of the pods of bs.
func peak(load map[string]float64, bs []balancer.Backend) float64 {
	var top, sum float64
	for _, b := range bs {
		top = max(top, load[b.ID])
		sum += load[b.ID]
	}
	return top / (sum / float64(len(bs)))
}

// TestZonesHalfInOneZone: three zones, one of them holding half of the
// pods, and proxies spread evenly over the three. Envoy's zone-aware
// routing keeps every pod at the mean load, exactly; PreferClose loads
// the pods of a small zone with a third of the requests whatever their
// number: 4/3 of the mean when the other half splits evenly (6/3/3), twice
// the mean when it splits 4/2, above the 1.5x bound.
func TestZonesHalfInOneZone(t *testing.T) {
	for _, tc := range []struct {
		counts      []int
		preferClose float64 // PreferClose's exact peak-to-mean
	}{
		{[]int{6, 3, 3}, 4. / 3},
		{[]int{6, 4, 2}, 2},
		{[]int{10, 6, 4}, 5. / 3},
	} {
		t.Run(fmt.Sprint(tc.counts), func(t *testing.T) {
			bs := zoned(abc, tc.counts...)
			aware := affinity.Zones{Mode: affinity.ZoneAware, Proxies: evenProxies, Builder: roundrobin.Config{}}
			close := affinity.Zones{Mode: affinity.PreferClose, Builder: roundrobin.Config{}}

			exact := peak(fleetLoad(t, aware, bs, evenProxies), bs)
			sampled := peak(sampledLoad(t, aware, bs, abc, 120000), bs)
			t.Logf("ZoneAware:   peak/mean %.4f exact, %.4f sampled", exact, sampled)
			assert.InDelta(t, 1, exact, 1e-9)
			assert.LessOrEqual(t, sampled, 1.05)

			exact = peak(fleetLoad(t, close, bs, evenProxies), bs)
			sampled = peak(sampledLoad(t, close, bs, abc, 120000), bs)
			t.Logf("PreferClose: peak/mean %.4f exact, %.4f sampled", exact, sampled)
			assert.InDelta(t, tc.preferClose, exact, 1e-9)
			assert.InDelta(t, tc.preferClose, sampled, 0.05)
		})
	}
}

// TestZoneAwareFleetBalance is the property behind Envoy's design: when
// every proxy routes as Zones says with the same Proxies, every zone
// receives exactly its share of the capacity, whatever the layout of
// pods, weights and proxies (as long as routing is on: the set is at
// least MinClusterSize, over two zones or more, and the proxies too).
func TestZoneAwareFleetBalance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	routed := 0 // trials where some proxy routes by zone
	names := []string{"a", "b", "c", "d", "e", "f"}
	for trial := range 500 {
		zones := names[:2+rng.IntN(4)]
		counts := make([]int, len(zones))
		for i := range counts {
			counts[i] = rng.IntN(8) // zones without pods too
		}
		bs := zoned(zones, counts...)
		for i := range bs {
			bs[i].Weight = uint32(1 + rng.IntN(5))
		}
		proxies := map[string]float64{}
		for _, z := range names[:len(zones)+rng.IntN(2)] { // proxies where no pod is too
			if rng.IntN(4) != 0 {
				proxies[z] = float64(1 + rng.IntN(20))
			}
		}
		capacity, total := map[string]float64{}, 0.0
		inZones := map[string]bool{}
		for _, b := range bs {
			capacity[b.Zone] += float64(b.Weight)
			total += float64(b.Weight)
			inZones[b.Zone] = true
		}
		if len(inZones) < 2 || len(proxies) < 2 {
			continue
		}
		z := affinity.Zones{Builder: roundrobin.Config{}, Proxies: proxies, MinClusterSize: 1}
		load := fleetLoad(t, z, bs, proxies)
		for local := range proxies {
			z.Local = local
			for zone, s := range mustShares(t, z, bs) {
				if math.Abs(s-capacity[zone]/total) > 1e-9 {
					routed++
					break
				}
			}
		}
		got := map[string]float64{}
		for _, b := range bs {
			got[b.Zone] += load[b.ID]
		}
		for zone, c := range capacity {
			require.InDelta(t, c/total, got[zone], 1e-9, "trial %d: zone %s; counts %v, proxies %v", trial, zone, counts, proxies)
		}
	}
	// Off, every proxy spreads by capacity and balances trivially: make
	// sure most trials routed by zone.
	assert.Greater(t, routed, 500, "proxies that routed by zone")
}
