package affinity_test

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

// The Pick contract and the Builder's contract, for Zones around every
// algorithm.

// TestZonesContract runs the Pick contract of every picker on every
// algorithm wrapped in both modes: empty sets, one endpoint, members,
// allocation-free picks, picks racing Updates.
func TestZonesContract(t *testing.T) {
	for _, alg := range zoneAlgorithms() {
		for _, mode := range []affinity.ZoneMode{affinity.ZoneAware, affinity.PreferClose} {
			t.Run(alg.name+"/"+mode.String(), func(t *testing.T) {
				lbtest.Contract(t, affinity.Zones{Local: "a", Builder: alg.b, Mode: mode})
			})
		}
	}
}

// zoneSets are endpoint sets that exercise each route of a ZoneAware
// proxy in zone a with proxies spread evenly: all local, local and
// spill, spill only, and off.
var zoneSets = [][]balancer.Backend{
	zoned(abc, 4, 4, 4),  // local
	zoned(abc, 2, 6, 4),  // half local, half to b
	zoned(abc, 0, 6, 6),  // no local: all spill
	zoned(abc, 1, 2, 2),  // below MinClusterSize: off
	zoned(abc, 10, 3, 7), // local
	zoned(abc, 1, 30, 9), // mostly spill
}

var evenProxies = map[string]float64{"a": 1, "b": 1, "c": 1}

// TestZonesAllocs: picks through zone routing allocate nothing, hashed or
// not, first try or retry, from the Picker and through the Balancer.
func TestZonesAllocs(t *testing.T) {
	for _, alg := range zoneAlgorithms() {
		for _, bs := range zoneSets {
			bal := balancer.New(affinity.Zones{Local: "a", Builder: alg.b, Proxies: evenProxies})
			require.NoError(t, bal.Update(bs))
			p := bal.Picker()
			for _, req := range []balancer.Request{{}, {Attempt: 1}, balancer.KeyRequest("k"), {Hash: 7, HasHash: true, Attempt: 2}} {
				if a := testing.AllocsPerRun(200, func() { _, _ = p.Pick(req) }); a != 0 {
					t.Errorf("%s: Picker.Pick(%+v) allocates %v times", alg.name, req, a)
				}
				if a := testing.AllocsPerRun(200, func() {
					res, _ := bal.Pick(req)
					res.Done(balancer.DoneInfo{})
				}); a != 0 {
					t.Errorf("%s: Balancer.Pick+Done(%+v) allocates %v times", alg.name, req, a)
				}
			}
		}
	}
}

// TestZonesRace picks from a wrapped Balancer while Updates move it
// through every route (run it with -race): every pick succeeds, and every
// endpoint is back to zero in flight at the end.
func TestZonesRace(t *testing.T) {
	for _, alg := range zoneAlgorithms() {
		t.Run(alg.name, func(t *testing.T) {
			bal := balancer.New(affinity.Zones{Local: "a", Builder: alg.b, Proxies: evenProxies})
			require.NoError(t, bal.Update(zoneSets[0]))
			var wg sync.WaitGroup
			stop := make(chan struct{})
			errs := make(chan error, 4)
			seen := make([][]*balancer.Endpoint, 4)
			for g := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						req := balancer.Request{Attempt: i % 3}
						if g%2 == 0 {
							req.Hash, req.HasHash = uint64(i)*0x9e3779b97f4a7c15, true
						}
						res, err := bal.Pick(req)
						if err != nil {
							errs <- err
							return
						}
						if i%64 == 0 {
							seen[g] = append(seen[g], res.Endpoint)
						}
						res.Done(balancer.DoneInfo{})
					}
				})
			}
			for i := range 200 {
				require.NoError(t, bal.Update(zoneSets[i%len(zoneSets)]))
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, es := range seen {
				for _, e := range es {
					require.Zero(t, e.InFlight(), e.ID)
				}
			}
		})
	}
}

// TestZonesForwarding: Zones answers the optional interfaces as its
// Builder does, and the Balancer's defaults for those it lacks; its
// Pickers' tables add up.
func TestZonesForwarding(t *testing.T) {
	lc := affinity.Zones{Local: "a", Builder: leastconn.Config{Decay: 3e9, FailurePenalty: 2e9}}
	assert.Equal(t, leastconn.Config{Decay: 3e9}.LatencyDecay(), lc.LatencyDecay())
	assert.EqualValues(t, 2e9, lc.FailureLatency())
	assert.False(t, lc.ConsistentHash())
	assert.False(t, lc.TrackTotalInFlight())

	rr := affinity.Zones{Local: "a", Builder: roundrobin.Config{}}
	assert.Equal(t, balancer.DefaultLatencyDecay, rr.LatencyDecay())
	assert.Equal(t, balancer.DefaultFailurePenalty, rr.FailureLatency())
	assert.False(t, rr.ConsistentHash())

	mg := affinity.Zones{Local: "a", Builder: maglev.Config{BalanceFactor: 1.25}}
	assert.True(t, mg.ConsistentHash())
	assert.True(t, mg.TrackTotalInFlight())
	assert.False(t, affinity.Zones{Local: "a", Builder: ringhash.Config{}}.TrackTotalInFlight())

	// A Balancer of a bounded-load Zones keeps the total in flight.
	bal := balancer.New(mg)
	require.NoError(t, bal.Update(zoned(abc, 4, 4, 4)))
	res, err := bal.Pick(balancer.Request{})
	require.NoError(t, err)
	total, ok := res.Endpoint.TotalInFlight()
	assert.True(t, ok)
	assert.EqualValues(t, 1, total)
	res.Done(balancer.DoneInfo{})

	// Tables: the Picker of every endpoint plus one a zone.
	cfg := maglev.Config{TableSize: 1009}
	bs := zoned(abc, 2, 6, 4) // a keeps half and sends half to b
	eps := lbtest.Endpoints(bs)
	p := lbtest.MustBuild(t, affinity.Zones{Local: "a", Builder: cfg, Proxies: evenProxies}, eps)
	ts, ok := p.(balancer.TableSizer)
	require.True(t, ok)
	want := 0
	for _, part := range [][]*balancer.Endpoint{eps, eps[:2], eps[2:8]} {
		want += lbtest.MustBuild(t, cfg, part).(balancer.TableSizer).TableBytes()
	}
	assert.Equal(t, want, ts.TableBytes())
}

// TestZonesErrors: every configuration error wraps ErrZoneConfig and says
// what is wrong; bad endpoints and the Builder's errors come through.
func TestZonesErrors(t *testing.T) {
	eps := lbtest.Endpoints(zoned(abc, 2, 2, 2))
	rr := roundrobin.Config{}
	for _, tc := range []struct {
		z    affinity.Zones
		want string
	}{
		{affinity.Zones{Builder: rr}, "Local is empty"},
		{affinity.Zones{Local: "a"}, "Builder is nil"},
		{affinity.Zones{Local: "a", Builder: rr, MinClusterSize: -1}, "MinClusterSize is -1"},
		{affinity.Zones{Local: "a", Builder: rr, Mode: 7}, "unknown Mode ZoneMode(7)"},
		{affinity.Zones{Local: "a", Builder: rr, Proxies: map[string]float64{"a": -1}}, `Proxies["a"] is -1`},
		{affinity.Zones{Local: "a", Builder: rr, Proxies: map[string]float64{"b": math.NaN()}}, `Proxies["b"] is NaN`},
		{affinity.Zones{Local: "a", Builder: rr, Proxies: map[string]float64{"c": math.Inf(1)}}, `Proxies["c"] is +Inf`},
	} {
		_, err := tc.z.Build(eps)
		require.ErrorIs(t, err, affinity.ErrZoneConfig)
		assert.True(t, strings.HasPrefix(err.Error(), "affinity: "), err.Error())
		assert.Contains(t, err.Error(), tc.want)
		_, err = tc.z.Shares(eps)
		require.ErrorIs(t, err, affinity.ErrZoneConfig)
		require.ErrorIs(t, balancer.New(tc.z).Update(zoned(abc, 1, 1, 1)), affinity.ErrZoneConfig)
	}
	z := affinity.Zones{Local: "a", Builder: rr}
	_, err := z.Build([]*balancer.Endpoint{eps[0], nil})
	require.ErrorIs(t, err, balancer.ErrInvalidBackend)
	assert.True(t, strings.HasPrefix(err.Error(), "affinity: "), err.Error())
	_, err = z.Build([]*balancer.Endpoint{eps[0], {}})
	require.ErrorIs(t, err, balancer.ErrInvalidBackend)
	_, err = z.Build([]*balancer.Endpoint{eps[0], eps[0]})
	require.ErrorIs(t, err, balancer.ErrInvalidBackend)

	// The Builder's errors: 5 is prime but holds no 6 endpoints; a zone
	// of 2 fits, the set does not.
	_, err = affinity.Zones{Local: "a", Builder: maglev.Config{TableSize: 5}}.Build(eps)
	require.ErrorIs(t, err, maglev.ErrTableSize)
	_, err = affinity.Zones{Local: "a", Builder: maglev.Config{TableSize: 4}}.Build(eps[:2])
	require.ErrorIs(t, err, maglev.ErrTableSize)
}

// listPicker is a Picker of a type that cannot be compared (it holds a
// slice), as a user's Builder may make.
type listPicker struct{ eps []*balancer.Endpoint }

func (p listPicker) Pick(balancer.Request) (*balancer.Endpoint, error) { return p.eps[0], nil }

type listBuilder struct{}

func (listBuilder) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	return listPicker{eps}, nil
}

// TestZonesAnyPicker: Pickers of any type work inside, even ones that
// cannot be compared, and TableBytes is 0 without tables.
func TestZonesAnyPicker(t *testing.T) {
	for _, bs := range zoneSets {
		p := lbtest.MustBuild(t, affinity.Zones{Local: "a", Builder: listBuilder{}, Proxies: evenProxies}, lbtest.Endpoints(bs))
		_, err := p.Pick(balancer.Request{})
		require.NoError(t, err)
		if ts, ok := p.(balancer.TableSizer); ok {
			assert.Zero(t, ts.TableBytes())
		}
	}
}

// FuzzZones feeds arbitrary configurations and endpoint sets to Build:
// it rejects a bad configuration with an error wrapping ErrZoneConfig and
// never panics; the Picker it builds picks members of the set, and Shares
// are shares of the set's zones that add up to 1.
func FuzzZones(f *testing.F) {
	f.Add("a", uint8(0), 0, 1.0, 1.0, 1.0, true, []byte{0, 1, 2, 4, 5, 6, 8, 9})
	f.Add("b", uint8(1), 0, 0.0, 0.0, 0.0, false, []byte{1, 1, 3})
	f.Add("", uint8(0), -1, math.NaN(), -1.0, math.Inf(1), true, []byte{})
	f.Add("a", uint8(7), 3, 1e308, 1e308, 5e-324, true, []byte{255, 0, 128, 64, 2, 2, 2})
	f.Add("c", uint8(0), 1, 1e308, 1e308, 1e308, true, []byte{0, 1, 2, 0, 1, 2, 4, 9})
	f.Add("c", uint8(0), 1, 1e308, 1e308, 5e-324, true, []byte{0, 1, 0, 1, 4, 5, 8, 9})
	zones := []string{"a", "b", "c", ""}
	f.Fuzz(func(t *testing.T, local string, mode uint8, minSize int, pa, pb, pc float64, withProxies bool, layout []byte) {
		z := affinity.Zones{Local: local, Builder: roundrobin.Config{}, Mode: affinity.ZoneMode(mode), MinClusterSize: minSize, Rand: balancer.NewSource(1)}
		if withProxies {
			z.Proxies = map[string]float64{"a": pa, "b": pb, "c": pc}
		}
		bad := local == "" || mode > 1 || minSize < 0
		for _, v := range z.Proxies {
			bad = bad || v < 0 || math.IsNaN(v) || math.IsInf(v, 0)
		}
		layout = layout[:min(len(layout), 64)]
		bs := make([]balancer.Backend, len(layout))
		inSet := map[string]bool{}
		for i, c := range layout {
			bs[i] = balancer.Backend{ID: strconv.Itoa(i), Zone: zones[c%4], Weight: uint32(c / 4)}
			inSet[bs[i].Zone] = true
		}
		eps := lbtest.Endpoints(bs)
		p, err := z.Build(eps)
		if bad {
			require.ErrorIs(t, err, affinity.ErrZoneConfig)
			require.True(t, strings.HasPrefix(err.Error(), "affinity: "), err.Error())
			return
		}
		require.NoError(t, err)
		shares, err := z.Shares(eps)
		require.NoError(t, err)
		var sum float64
		for zone, s := range shares {
			require.True(t, inSet[zone], "share for zone %q, not in the set", zone)
			require.True(t, s >= 0 && s <= 1+1e-9, "share %v", s)
			sum += s
		}
		if len(eps) > 0 {
			require.InDelta(t, 1, sum, 1e-9)
		}
		for i := range 16 {
			req := balancer.Request{Hash: uint64(i) * 0x9e3779b97f4a7c15, HasHash: i%2 == 0, Attempt: i % 3}
			e, err := p.Pick(req)
			if len(eps) == 0 {
				require.ErrorIs(t, err, balancer.ErrNoEndpoints)
				continue
			}
			require.NoError(t, err)
			require.Contains(t, eps, e)
		}
	})
}
