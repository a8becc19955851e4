package affinity_test

import (
	"fmt"
	"testing"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/roundrobin"
)

// BenchmarkZonePick compares a bare Picker with the same algorithm
// wrapped in Zones, for a proxy in zone a of three:
//
//   - bare: the algorithm over every endpoint;
//   - local: the zones balanced (a third each, Proxies nil): every request
//     stays local, no draw;
//   - spill: a holds 1/6 of the endpoints and 1/3 of the proxies, so a
//     pick draws among three zones (residualProxies).
//
// Round robin and P2C get requests without a hash (the zone draw comes
// from math/rand/v2), Maglev requests with one (the draw is a mix of it).
func BenchmarkZonePick(b *testing.B) { benchZonePick(b, false) }

// BenchmarkZonePickParallel is BenchmarkZonePick under b.RunParallel.
func BenchmarkZonePickParallel(b *testing.B) { benchZonePick(b, true) }

func benchZonePick(b *testing.B, parallel bool) {
	for _, alg := range []struct {
		name   string
		b      balancer.Builder
		hashed bool
	}{
		{"rr", roundrobin.Config{}, false},
		{"p2c", leastconn.Config{}, false},
		{"maglev", maglev.Config{}, true},
	} {
		for _, n := range []int{100, 1000} {
			even := zoned(abc, n/3, n/3, n-2*(n/3))
			spill := zoned(abc, n/6, n/2, n-n/6-n/2)
			for _, v := range []struct {
				name string
				b    balancer.Builder
				bs   []balancer.Backend
			}{
				{"bare", alg.b, even},
				{"local", affinity.Zones{Local: "a", Builder: alg.b}, even},
				{"spill", affinity.Zones{Local: "a", Builder: alg.b, Proxies: residualProxies}, spill},
			} {
				b.Run(fmt.Sprintf("%s/n=%d/%s", alg.name, n, v.name), func(b *testing.B) {
					p := lbtest.MustBuild(b, v.b, lbtest.Endpoints(v.bs))
					reqs := lbtest.Requests(1024, alg.hashed)
					b.ReportAllocs()
					b.ResetTimer()
					if !parallel {
						for i := 0; b.Loop(); i++ {
							_, _ = p.Pick(reqs[i&1023])
						}
						return
					}
					b.RunParallel(func(pb *testing.PB) {
						for i := 0; pb.Next(); i++ {
							_, _ = p.Pick(reqs[i&1023])
						}
					})
				})
			}
		}
	}
}
