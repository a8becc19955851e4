package affinity_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/random"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

// zoneAlpha is the significance level of every chi-square test here: with
// seeded sources the tests are deterministic, and a failure means the
// shares are wrong, not bad luck, at this level.
const zoneAlpha = 1e-3

// zoneAlgorithms are the Builders every zone test wraps.
func zoneAlgorithms() []struct {
	name string
	b    balancer.Builder
} {
	return []struct {
		name string
		b    balancer.Builder
	}{
		{"roundrobin", roundrobin.Config{}},
		{"random", random.Config{}},
		{"leastconn", leastconn.Config{}},
		{"leastconn-peak", leastconn.Config{PeakEWMA: true, Decay: 5e9}},
		// Small tables: the race test rebuilds them hundreds of times.
		{"ringhash", ringhash.Config{Replicas: 64}},
		{"maglev", maglev.Config{TableSize: 4099}},
	}
}

// zoned returns backends in zones: counts[i] endpoints in zones[i], with
// IDs 10.<i>.0.<j>:8080.
func zoned(zones []string, counts ...int) []balancer.Backend {
	var bs []balancer.Backend
	for i, z := range zones {
		for j := range counts[i] {
			bs = append(bs, balancer.Backend{ID: fmt.Sprintf("10.%d.0.%d:8080", i, j), Zone: z})
		}
	}
	return bs
}

var abc = []string{"a", "b", "c"}

// zoneCounts picks n times from p and counts the picks per zone and per
// endpoint ID.
func zoneCounts(t testing.TB, p balancer.Picker, n int, hashed bool) (zones, ids map[string]int) {
	t.Helper()
	zones, ids = map[string]int{}, map[string]int{}
	for i := range n {
		req := balancer.Request{}
		if hashed {
			req = balancer.KeyRequest(fmt.Sprint("key-", i))
		}
		e, err := p.Pick(req)
		require.NoError(t, err)
		zones[e.Zone]++
		ids[e.ID]++
	}
	return zones, ids
}

// chiSquare checks counts against the expected shares at zoneAlpha. A
// share of 0 must have no count.
func chiSquare(t *testing.T, counts map[string]int, shares map[string]float64) {
	t.Helper()
	total := 0
	for _, c := range counts {
		total += c
	}
	var stat float64
	df := -1
	for k, c := range counts {
		if shares[k] == 0 && c > 0 {
			t.Fatalf("%d picks for %q, which should get none (counts %v)", c, k, counts)
		}
	}
	for k, s := range shares {
		if s == 0 {
			continue
		}
		exp := s * float64(total)
		d := float64(counts[k]) - exp
		stat += d * d / exp
		df++
	}
	if df < 1 {
		return
	}
	if p := (distuv.ChiSquared{K: float64(df)}).Survival(stat); p < zoneAlpha {
		t.Fatalf("counts %v against shares %v: chi-square %.2f, df %d, p = %.2g < %g", counts, shares, stat, df, p, zoneAlpha)
	}
}

func mustShares(t *testing.T, z affinity.Zones, bs []balancer.Backend) map[string]float64 {
	t.Helper()
	s, err := z.Shares(lbtest.Endpoints(bs))
	require.NoError(t, err)
	return s
}

func assertShares(t *testing.T, want, got map[string]float64) {
	t.Helper()
	for k, w := range want {
		assert.InDelta(t, w, got[k], 1e-12, "zone %q: %v", k, got)
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && g != 0 {
			t.Errorf("zone %q gets %v, want nothing (%v)", k, g, got)
		}
	}
}

// TestZonesWeights: weights count within a zone, and as a zone's capacity.
func TestZonesWeights(t *testing.T) {
	// Within the local zone, weighted random keeps its weights.
	bs := zoned(abc, 3, 3, 3)
	for i := range bs {
		bs[i].Weight = uint32(1 + i%3)
	}
	z := affinity.Zones{Local: "b", Builder: random.Config{Rand: balancer.NewSource(1)}, Mode: affinity.PreferClose}
	p := lbtest.MustBuild(t, z, lbtest.Endpoints(bs))
	_, ids := zoneCounts(t, p, 60000, false)
	chiSquare(t, ids, map[string]float64{"10.1.0.0:8080": 1. / 6, "10.1.0.1:8080": 2. / 6, "10.1.0.2:8080": 3. / 6})

	// Capacity is weight: a's 3 endpoints of weight 1 are a quarter of the
	// capacity, b's 3 of weight 3 the rest; with half the proxies in a, a
	// keeps half its requests and sends half to b.
	bs = zoned([]string{"a", "b"}, 3, 3)
	for i := 3; i < 6; i++ {
		bs[i].Weight = 3
	}
	z = affinity.Zones{Local: "a", Builder: roundrobin.Config{}, Proxies: map[string]float64{"a": 1, "b": 1}, Rand: balancer.NewSource(2)}
	assertShares(t, map[string]float64{"a": 0.5, "b": 0.5}, mustShares(t, z, bs))
	zones, _ := zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(bs)), 20000, false)
	chiSquare(t, zones, map[string]float64{"a": 0.5, "b": 0.5})
}

// TestZonesHashStable: with a hash picker inside, a key goes to one zone
// and one endpoint, whatever the order of the set and however often it is
// picked, and within its zone to the endpoint the zone's own table gives.
func TestZonesHashStable(t *testing.T) {
	for _, b := range []balancer.Builder{ringhash.Config{}, maglev.Config{}} {
		bs := zoned(abc, 2, 6, 4)
		eps := lbtest.Endpoints(bs)
		z := affinity.Zones{Local: "a", Builder: b, Proxies: evenProxies}
		p := lbtest.MustBuild(t, z, eps)
		rev := slices.Clone(eps)
		slices.Reverse(rev)
		q := lbtest.MustBuild(t, z, rev)
		own := map[string]balancer.Picker{
			"a": lbtest.MustBuild(t, b, eps[:2]),
			"b": lbtest.MustBuild(t, b, eps[2:8]),
			"c": lbtest.MustBuild(t, b, eps[8:]),
		}
		zones := map[string]int{}
		for i := range 4000 {
			req := balancer.KeyRequest(fmt.Sprint("user-", i))
			e1, err := p.Pick(req)
			require.NoError(t, err)
			e2, _ := p.Pick(req)
			e3, _ := q.Pick(req)
			require.Same(t, e1, e2)
			require.Same(t, e1, e3)
			want, _ := own[e1.Zone].Pick(req)
			require.Same(t, want, e1, "key %d: not its endpoint in zone %s's table", i, e1.Zone)
			zones[e1.Zone]++
		}
		chiSquare(t, zones, map[string]float64{"a": 0.5, "b": 0.5, "c": 0})
	}
}

// TestZoneDrawGolden pins which zone keys go to: the zone draw and the
// order of the ranges are a wire format, since every proxy of a zone must
// send a key to the same zone. The vector was produced by this
// implementation (no other implements it); a change must be deliberate.
func TestZoneDrawGolden(t *testing.T) {
	// a keeps 1/2 and spills 3/8 to b, 1/8 to c (see residualSet).
	z := affinity.Zones{Local: "a", Builder: maglev.Config{}, Proxies: residualProxies}
	p := lbtest.MustBuild(t, z, lbtest.Endpoints(residualSet))
	var got strings.Builder
	for i := range 32 {
		e, err := p.Pick(balancer.KeyRequest(fmt.Sprint("key-", i)))
		require.NoError(t, err)
		got.WriteString(e.Zone)
	}
	assert.Equal(t, "aaabaababaaaaacaaabbbbaabababaaa", got.String())
}

// TestPreferClose follows kube-proxy: the local zone's endpoints whenever
// it has any, all endpoints when it has none or when any endpoint has no
// zone; no minimum size, no regard for the proxies.
func TestPreferClose(t *testing.T) {
	for _, alg := range zoneAlgorithms() {
		t.Run(alg.name, func(t *testing.T) {
			z := affinity.Zones{Local: "b", Builder: alg.b, Mode: affinity.PreferClose, Proxies: evenProxies}
			for _, tc := range []struct {
				name string
				bs   []balancer.Backend
				want map[string]float64
			}{
				{"local", zoned(abc, 5, 1, 5), map[string]float64{"b": 1}},
				{"small", zoned([]string{"a", "b"}, 1, 1), map[string]float64{"b": 1}},
				{"none local", zoned([]string{"a", "c"}, 2, 6), map[string]float64{"a": 0.25, "c": 0.75}},
				{"no zone", append(zoned(abc, 2, 2, 2), balancer.Backend{ID: "10.9.0.0:8080"}), map[string]float64{"a": 2. / 7, "b": 2. / 7, "c": 2. / 7, "": 1. / 7}},
			} {
				assertShares(t, tc.want, mustShares(t, z, tc.bs))
				for _, hashed := range []bool{false, true} {
					zones, _ := zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(tc.bs)), 7000, hashed)
					if len(tc.want) == 1 {
						assert.Equal(t, map[string]int{"b": 7000}, zones, tc.name)
						continue
					}
					for zone := range tc.want {
						assert.Positive(t, zones[zone], "%s: zone %q gets nothing: %v", tc.name, zone, zones)
					}
				}
			}
		})
	}
}

// TestZoneAwareBalanced: three zones of four endpoints and proxies spread
// evenly (or as the endpoints, Proxies nil) keep every request local.
func TestZoneAwareBalanced(t *testing.T) {
	for _, alg := range zoneAlgorithms() {
		for _, proxies := range []map[string]float64{nil, evenProxies, {"a": 2, "b": 2, "c": 2}} {
			z := affinity.Zones{Local: "c", Builder: alg.b, Proxies: proxies}
			bs := zoned(abc, 4, 4, 4)
			assertShares(t, map[string]float64{"c": 1}, mustShares(t, z, bs))
			for _, hashed := range []bool{false, true} {
				zones, _ := zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(bs)), 3000, hashed)
				assert.Equal(t, map[string]int{"c": 3000}, zones, alg.name)
			}
		}
	}
}

// residualSet and residualProxies: a holds 1/6 of the endpoints and 1/3
// of the proxies, b 1/2 and 3/8, c 1/3 and 7/24. So a keeps (1/6)/(1/3)
// = 1/2 of its requests and spills the rest by residual capacity, b
// 1/2 - 3/8 = 1/8 and c 1/3 - 7/24 = 1/24: 3/8 to b and 1/8 to c.
var (
	residualSet     = zoned(abc, 4, 12, 8)
	residualProxies = map[string]float64{"a": 8, "b": 9, "c": 7}
)

// TestZoneAwareResidual: a local zone with 1/6 of the capacity and 1/3 of
// the proxies keeps half its requests and spreads the rest by residual
// capacity, exactly (Shares) and by sampling (chi-square), hashed or not.
func TestZoneAwareResidual(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bs      []balancer.Backend
		proxies map[string]float64
		want    map[string]float64
	}{
		// Even proxies: c's 1/3 of the capacity serves its own 1/3 of the
		// proxies, so a's spill all goes to b.
		{"even", zoned(abc, 2, 6, 4), evenProxies, map[string]float64{"a": 0.5, "b": 0.5}},
		{"uneven", residualSet, residualProxies, map[string]float64{"a": 0.5, "b": 0.375, "c": 0.125}},
		// Proxies in a zone without endpoints count in the total: P_a =
		// 1/4, U_a = 1/6, so a keeps 2/3.
		{"proxies elsewhere", zoned(abc, 2, 6, 4), map[string]float64{"a": 1, "b": 1, "c": 1, "d": 1}, map[string]float64{"a": 2. / 3, "b": 1. / 3 * 0.25 / (0.25 + 1./12), "c": 1. / 3 * (1. / 12) / (0.25 + 1./12)}},
	} {
		for _, alg := range zoneAlgorithms() {
			z := affinity.Zones{Local: "a", Builder: alg.b, Proxies: tc.proxies, Rand: balancer.NewSource(7)}
			assertShares(t, tc.want, mustShares(t, z, tc.bs))
			for _, hashed := range []bool{false, true} {
				zones, _ := zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(tc.bs)), 24000, hashed)
				chiSquare(t, zones, tc.want)
			}
		}
	}
}

// TestZoneAwareOff: below MinClusterSize, with the endpoints or the
// proxies in one zone, or with no proxy in the local zone, requests go to
// every endpoint.
func TestZoneAwareOff(t *testing.T) {
	spread := func(bs []balancer.Backend) map[string]float64 {
		s := map[string]float64{}
		for _, b := range bs {
			s[b.Zone] += 1 / float64(len(bs))
		}
		return s
	}
	small := zoned(abc, 1, 2, 2)
	for _, tc := range []struct {
		name string
		z    affinity.Zones
		bs   []balancer.Backend
		want map[string]float64
	}{
		{"below MinClusterSize", affinity.Zones{Proxies: evenProxies}, small, spread(small)},
		{"MinClusterSize 1", affinity.Zones{Proxies: evenProxies, MinClusterSize: 1}, small, map[string]float64{"a": 0.6, "b": 0.2, "c": 0.2}},
		{"MinClusterSize 6", affinity.Zones{Proxies: evenProxies}, zoned(abc, 1, 3, 2), map[string]float64{"a": 0.5, "b": 0.5}},
		{"above MinClusterSize", affinity.Zones{Proxies: evenProxies, MinClusterSize: 7}, zoned(abc, 1, 3, 2), spread(zoned(abc, 1, 3, 2))},
		{"one zone of proxies", affinity.Zones{Proxies: map[string]float64{"a": 1}}, residualSet, spread(residualSet)},
		{"no local proxies", affinity.Zones{Proxies: map[string]float64{"b": 1, "c": 1}}, residualSet, spread(residualSet)},
		{"one zone of endpoints", affinity.Zones{Proxies: evenProxies}, zoned(abc, 0, 8, 0), map[string]float64{"b": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.z.Local, tc.z.Builder, tc.z.Rand = "a", random.Config{Rand: balancer.NewSource(3)}, balancer.NewSource(4)
			assertShares(t, tc.want, mustShares(t, tc.z, tc.bs))
			zones, _ := zoneCounts(t, lbtest.MustBuild(t, tc.z, lbtest.Endpoints(tc.bs)), 20000, false)
			chiSquare(t, zones, tc.want)
		})
	}
}

// TestZoneAwareLocalEmpty: with no endpoint in the local zone, requests
// go to every zone: over every endpoint when the proxies are spread as
// the endpoints (Envoy gives up on a local cluster without local hosts),
// by residual capacity when Proxies says where they are.
func TestZoneAwareLocalEmpty(t *testing.T) {
	bs := zoned(abc, 0, 6, 12)
	// Proxies nil: every endpoint, 1/3 to b and 2/3 to c.
	z := affinity.Zones{Local: "a", Builder: roundrobin.Config{}, Rand: balancer.NewSource(5)}
	assertShares(t, map[string]float64{"b": 1. / 3, "c": 2. / 3}, mustShares(t, z, bs))
	zones, _ := zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(bs)), 5400, false)
	assert.Equal(t, map[string]int{"b": 1800, "c": 3600}, zones) // round robin over the 18

	// Even proxies: residual b 1/3 - 1/3 = 0, c 2/3 - 1/3 = 1/3: all to
	// c, which has the capacity b lacks.
	z.Proxies = evenProxies
	assertShares(t, map[string]float64{"c": 1}, mustShares(t, z, bs))
	// Proxies in a only count against a: both b and c have residual.
	z.Proxies = map[string]float64{"a": 2, "b": 1, "c": 1}
	assertShares(t, map[string]float64{"b": (1./3 - 1./4) / (1 - 0.5), "c": (2./3 - 1./4) / (1 - 0.5)}, mustShares(t, z, bs))
	zones, _ = zoneCounts(t, lbtest.MustBuild(t, z, lbtest.Endpoints(bs)), 24000, true)
	chiSquare(t, zones, map[string]float64{"b": 1. / 6, "c": 5. / 6})
}

// TestZonesPanic composes with the health package: outside panic, the
// local zone's unhealthy endpoints are gone from the set and requests
// stay local while local endpoints are left, or spread when none are; in
// panic the Monitor admits every endpoint, unhealthy ones too, and
// requests span every zone.
func TestZonesPanic(t *testing.T) {
	const now = int64(1e18)
	for _, alg := range zoneAlgorithms() {
		t.Run(alg.name, func(t *testing.T) {
			bal := balancer.New(affinity.Zones{Local: "a", Builder: alg.b})
			require.NoError(t, bal.UpdateAt(now, zoned(abc, 4, 4, 4)))
			_, err := health.New(bal, health.Config{PanicThreshold: 50}, now)
			require.NoError(t, err)
			eps := bal.Endpoints() // a's are 0-3, b's 4-7, c's 8-11
			down := func(ids ...int) {
				for _, i := range ids {
					eps[i].SetDown(true, now)
				}
				require.NoError(t, bal.Rebuild(now))
			}
			count := func() map[string]int {
				zones := map[string]int{}
				for i := range 3000 {
					req := balancer.Request{Now: now}
					if i%2 == 0 {
						req = balancer.KeyRequest(fmt.Sprint(i))
					}
					res, err := bal.Pick(req)
					require.NoError(t, err)
					zones[res.Endpoint.Zone]++
					res.Done(balancer.DoneInfo{})
				}
				return zones
			}
			assert.Equal(t, map[string]int{"a": 3000}, count())
			down(0, 1, 2) // 9 of 12 healthy: one local endpoint left
			assert.Len(t, bal.Serving(), 9)
			assert.Equal(t, map[string]int{"a": 3000}, count())
			down(3) // 8 of 12: no local endpoint, all zones that have any
			zones := count()
			assert.Zero(t, zones["a"])
			assert.Positive(t, zones["b"])
			assert.Positive(t, zones["c"])
			down(4, 5, 8) // 5 of 12 healthy: panic, every endpoint serves
			assert.Len(t, bal.Serving(), 12)
			zones = count()
			for _, zone := range abc {
				assert.Greater(t, zones[zone], 500, "zone %s in panic: %v", zone, zones)
			}
		})
	}
}

// TestZonesSlowStart composes with the health package's slow start: a
// pod that joins the local zone ramps up, by weight for round robin (its
// zone's capacity ramps with it) and by two tables for Maglev; picks
// never fail, and it takes a growing share of its zone's requests.
func TestZonesSlowStart(t *testing.T) {
	const t0 = int64(1e18)
	for _, b := range []balancer.Builder{roundrobin.Config{}, maglev.Config{TableSize: 4099}} {
		bal := balancer.New(affinity.Zones{Local: "a", Builder: b})
		require.NoError(t, bal.UpdateAt(t0, zoned(abc, 3, 3, 3)))
		m, err := health.New(bal, health.Config{SlowStart: &health.SlowStart{Window: 10e9}}, t0)
		require.NoError(t, err)
		bs := append(zoned(abc, 3, 3, 3), balancer.Backend{ID: "10.0.0.9:8080", Zone: "a"})
		require.NoError(t, bal.UpdateAt(t0+1e9, bs))
		share := func() float64 {
			zones, ids := zoneCounts(t, bal.Picker(), 8000, true)
			require.Equal(t, map[string]int{"a": 8000}, zones, "picks leave the local zone")
			return float64(ids["10.0.0.9:8080"]) / 8000
		}
		early := share()
		for now := t0 + 2e9; now < t0+12e9; {
			now = min(m.Advance(now), t0+12e9)
		}
		late := share()
		assert.Less(t, early, 0.15, "early in the ramp")
		assert.InDelta(t, 0.25, late, 0.04, "after the ramp: a quarter of zone a")
	}
}

// TestZonesRetry: a retry stays in the zone while it has endpoints the
// earlier attempts may not have used, and goes anywhere after.
func TestZonesRetry(t *testing.T) {
	bs := zoned(abc, 3, 3, 3)
	z := affinity.Zones{Local: "a", Builder: roundrobin.Config{}, Mode: affinity.PreferClose}
	p := lbtest.MustBuild(t, z, lbtest.Endpoints(bs))
	zones := map[int]map[string]int{}
	for attempt := range 5 {
		zones[attempt] = map[string]int{}
		for range 270 {
			e, err := p.Pick(balancer.Request{Attempt: attempt})
			require.NoError(t, err)
			zones[attempt][e.Zone]++
		}
	}
	for attempt := range 3 {
		assert.Equal(t, map[string]int{"a": 270}, zones[attempt], "attempt %d", attempt)
	}
	for attempt := 3; attempt < 5; attempt++ {
		// Round robin over all 9: 30 rounds.
		assert.Equal(t, map[string]int{"a": 90, "b": 90, "c": 90}, zones[attempt], "attempt %d", attempt)
	}
}
