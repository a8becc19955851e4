package ringhash

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

func mustPicker(t testing.TB, cfg Config, eps []*balancer.Endpoint) *picker {
	t.Helper()
	p, err := cfg.Build(eps)
	require.NoError(t, err)
	return p.(*picker)
}

func endpointsWithIDs(ids ...string) []*balancer.Endpoint {
	eps := make([]*balancer.Endpoint, len(ids))
	for i, id := range ids {
		eps[i] = balancer.NewEndpoint(balancer.Backend{ID: id})
	}
	return eps
}

func pickHash(t testing.TB, p balancer.Picker, h uint64, attempt int) *balancer.Endpoint {
	t.Helper()
	e, err := p.Pick(balancer.Request{Hash: h, HasHash: true, Attempt: attempt})
	require.NoError(t, err)
	return e
}

// TestEnvoyBasicVectors checks the ring against the ring Envoy's own test
// suite prints for six hosts and a minimum ring of 12 (ring_hash_lb_test.cc,
// "Basic"), and the picks it expects.
func TestEnvoyBasicVectors(t *testing.T) {
	var ids []string
	for port := 90; port <= 95; port++ {
		ids = append(ids, "127.0.0.1:"+strconv.Itoa(port))
	}
	eps := endpointsWithIDs(ids...)
	p := mustPicker(t, Config{Compat: Envoy, MinRingSize: 12}, eps)
	want := []struct {
		host int
		hash uint64
	}{
		{4, 833437586790550860}, {2, 928266305478181108}, {0, 1033482794131418490},
		{5, 3551244743356806947}, {3, 3851675632748031481}, {1, 5583722120771150861},
		{1, 6311230543546372928}, {3, 7700377290971790572}, {5, 13144177310400110813},
		{2, 13444792449719432967}, {4, 15516499411664133160}, {0, 16117243373044804889},
	}
	require.Len(t, p.ring.hashes, len(want))
	for i, w := range want {
		assert.Equal(t, w.hash, p.ring.hashes[i], "entry %d", i)
		assert.Equal(t, uint32(w.host), p.ring.owners[i], "entry %d", i)
	}
	for _, c := range []struct {
		hash uint64
		host int
	}{
		{0, 4}, {math.MaxUint64, 4}, {3551244743356806947, 5}, {3551244743356806948, 3},
		{16117243373044804880, 0},
	} {
		assert.Same(t, eps[c.host], pickHash(t, p, c.hash, 0), "hash %d", c.hash)
	}
}

// TestEnvoyHostnameVectors is Envoy's "BasicWithDoundedLoad" ring, whose
// hash keys are the host names "90" to "95".
func TestEnvoyHostnameVectors(t *testing.T) {
	eps := endpointsWithIDs("90", "91", "92", "93", "94", "95")
	p := mustPicker(t, Config{Compat: Envoy, MinRingSize: 12}, eps)
	want := []struct {
		host int
		hash uint64
	}{
		{5, 1975508444536362413}, {5, 2376063919839173711}, {3, 2386806903309390596},
		{4, 6749904478991551885}, {3, 6803900775736438537}, {2, 7225015537174310577},
		{0, 8787465352164086522}, {2, 11282020843382717940}, {1, 13723418369486627818},
		{0, 13776502110861797421}, {1, 14338313586354474791}, {4, 15364271037087512980},
	}
	require.Len(t, p.ring.hashes, len(want))
	for i, w := range want {
		assert.Equal(t, w.hash, p.ring.hashes[i], "entry %d", i)
		assert.Equal(t, uint32(w.host), p.ring.owners[i], "entry %d", i)
	}
	assert.Same(t, eps[2], pickHash(t, p, 7225015537174310577, 0))
	assert.Same(t, eps[3], pickHash(t, p, 6803900775736438537, 0))
}

// TestEnvoyScale checks the replica counts of the reference: with the
// default minimum of 1024, six hosts get ceil(1024/6) = 171 entries each
// and five get 205.
func TestEnvoyScale(t *testing.T) {
	for _, c := range []struct{ n, each int }{{6, 171}, {5, 205}, {1, 1024}, {1000, 2}, {2000, 1}} {
		eps := lbtest.Endpoints(lbtest.Backends(c.n))
		counts, err := settings{compat: Envoy, min: 1024, max: envoyMaxRingSize}.counts(eps)
		require.NoError(t, err)
		for i, got := range counts {
			require.Equal(t, uint32(c.each), got, "n=%d host %d", c.n, i)
		}
		p := mustPicker(t, Config{Compat: Envoy}, eps)
		assert.Len(t, p.ring.hashes, c.n*c.each)
	}
}

// TestEnvoyWeightedCarry checks the running sum: weights 1, 1, 2 at a
// maximum ring of 6 give 1.5, 1.5 and 3 entries, which Envoy's loop turns
// into 2, 1 and 3.
func TestEnvoyWeightedCarry(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Weighted(1, 1, 2))
	counts, err := settings{compat: Envoy, min: 1024, max: 6}.counts(eps)
	require.NoError(t, err)
	assert.Equal(t, []uint32{2, 1, 3}, counts)
	// Envoy's own comment: four equal hosts and a scale of 6 give 2, 1, 2, 1.
	counts, err = settings{compat: Envoy, min: 1024, max: 6}.counts(lbtest.Endpoints(lbtest.Backends(4)))
	require.NoError(t, err)
	assert.Equal(t, []uint32{2, 1, 2, 1}, counts)
	// gRPC walks the same weights in ID order.
	eps = endpointsWithIDs("c", "b", "a", "d")
	counts, err = settings{compat: GRPC, min: 1024, max: 6}.counts(eps)
	require.NoError(t, err)
	assert.Equal(t, []uint32{2, 1, 2, 1}, counts) // a=2, b=1, c=2, d=1
}

// TestEnvoyRetry checks that attempt k takes ring[(idx+k) % size], even
// when that is the same host.
func TestEnvoyRetry(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(3))
	p := mustPicker(t, Config{Compat: Envoy, MinRingSize: 12}, eps)
	size := len(p.ring.hashes)
	for _, h := range lbtest.Hashes(200, 1) {
		idx := p.index.search(p.ring.hashes, h)
		for k := range 2*size + 1 {
			want := eps[p.ring.owners[(idx+k)%size]]
			require.Same(t, want, pickHash(t, p, h, k))
		}
	}
}
