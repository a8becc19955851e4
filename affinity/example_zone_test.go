package affinity_test

import (
	"fmt"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/roundrobin"
)

// A proxy in zone a, which holds 2 of the 12 pods but a third of the
// proxies. Envoy's zone-aware routing keeps half of its requests in a, as
// many as a's pods can take if every proxy does the same, and sends the
// rest to b, the zone with capacity to spare (c's pods are just enough
// for c's proxies). Kubernetes' PreferClose would keep all of them in a,
// and a's pods would take twice their share of the fleet's requests.
func ExampleZones() {
	var backends []balancer.Backend
	for i, zone := range []string{"a", "a", "b", "b", "b", "b", "b", "b", "c", "c", "c", "c"} {
		backends = append(backends, balancer.Backend{ID: fmt.Sprintf("10.0.0.%d:8080", i+1), Zone: zone})
	}
	zones := affinity.Zones{
		Local:   "a",
		Builder: roundrobin.Config{}, // within a zone
		Proxies: map[string]float64{"a": 1, "b": 1, "c": 1},
		Rand:    balancer.NewSource(2), // seeded for the example; nil in a proxy
	}
	bal := balancer.New(zones)
	if err := bal.Update(backends); err != nil {
		panic(err)
	}
	shares, err := zones.Shares(bal.Serving())
	if err != nil {
		panic(err)
	}
	fmt.Println("ZoneAware shares:", shares)
	picks := map[string]int{}
	for range 10000 {
		res, err := bal.Pick(balancer.Request{})
		if err != nil {
			panic(err)
		}
		picks[res.Endpoint.Zone]++
		res.Done(balancer.DoneInfo{})
	}
	fmt.Println("ZoneAware picks:", picks)

	zones.Mode = affinity.PreferClose
	shares, _ = zones.Shares(bal.Serving())
	fmt.Println("PreferClose shares:", shares)
	// Output:
	// ZoneAware shares: map[a:0.5 b:0.5]
	// ZoneAware picks: map[a:4972 b:5028]
	// PreferClose shares: map[a:1]
}
