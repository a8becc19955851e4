package ringhash_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/ringhash"
)

var layouts = []ringhash.Compat{ringhash.Native, ringhash.Envoy, ringhash.GRPC}

func TestContract(t *testing.T) {
	for _, compat := range layouts {
		t.Run(compat.String(), func(t *testing.T) { lbtest.Contract(t, ringhash.Config{Compat: compat}) })
		t.Run(compat.String()+"/bounded", func(t *testing.T) {
			lbtest.Contract(t, ringhash.Config{Compat: compat, BalanceFactor: 1.25})
		})
	}
}

// TestRetryAllocs: retries and bounded picks allocate nothing either.
func TestRetryAllocs(t *testing.T) {
	for _, cfg := range []ringhash.Config{{}, {Compat: ringhash.Envoy}, {BalanceFactor: 1.1}} {
		bal := balancer.New(cfg)
		require.NoError(t, bal.Update(lbtest.Backends(100)))
		req := balancer.Request{Hash: 99, HasHash: true, Attempt: 5}
		allocs := testing.AllocsPerRun(200, func() {
			res, err := bal.Pick(req)
			if err == nil {
				res.Done(balancer.DoneInfo{})
			}
		})
		assert.Zero(t, allocs, cfg.Compat)
	}
}

func TestEmpty(t *testing.T) {
	for _, compat := range layouts {
		p, err := ringhash.Config{Compat: compat}.Build(nil)
		require.NoError(t, err)
		_, err = p.Pick(balancer.Request{Hash: 1, HasHash: true})
		assert.True(t, errors.Is(err, balancer.ErrNoEndpoints))
	}
}

// TestOrderIndependent: the native and gRPC layouts are a pure function of
// the endpoint set. The Envoy layout depends on the order (Envoy walks its
// hosts in the order given), but only when the scale leaves fractional
// entries; see TestGolden's reversed sets.
func TestOrderIndependent(t *testing.T) {
	reqs := lbtest.Requests(3000, true)
	r := rand.New(rand.NewPCG(7, 8))
	for _, cfg := range []ringhash.Config{{}, {Compat: ringhash.GRPC}, {Compat: ringhash.GRPC, MinRingSize: 7, MaxRingSize: 7}, {Replicas: 5}} {
		bs := lbtest.Weighted(3, 1, 4, 1, 5, 9, 2, 6, 5, 3)
		ref := lbtest.MustBuild(t, cfg, lbtest.Endpoints(bs))
		for range 10 {
			r.Shuffle(len(bs), func(i, j int) { bs[i], bs[j] = bs[j], bs[i] })
			p := lbtest.MustBuild(t, cfg, lbtest.Endpoints(bs))
			for i, req := range reqs {
				req.Attempt = i % 4
				want, _ := ref.Pick(req)
				got, _ := p.Pick(req)
				require.Equal(t, want.ID, got.ID, "%v request %d", cfg.Compat, i)
			}
		}
	}
}

// TestUnhashedSeeded: requests without a hash draw from Config.Rand, so a
// seeded Source gives the same picks on every run, spread over the set.
func TestUnhashedSeeded(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(5))
	pick := func() []string {
		p := lbtest.MustBuild(t, ringhash.Config{Rand: balancer.NewSource(42)}, eps)
		var ids []string
		for range 50 {
			e, err := p.Pick(balancer.Request{})
			require.NoError(t, err)
			ids = append(ids, e.ID)
		}
		return ids
	}
	a := pick()
	assert.Equal(t, a, pick())
	distinct := map[string]bool{}
	for _, id := range a {
		distinct[id] = true
	}
	assert.Len(t, distinct, 5)
}

// TestWeights: the native layout's shares follow the weights. With 256
// entries per unit, a ring's share of the hash space is within a few
// percent; 200,000 keys add a sampling error well under that.
func TestWeights(t *testing.T) {
	for _, compat := range layouts {
		eps := lbtest.Endpoints(lbtest.Weighted(1, 2, 3, 4))
		p := lbtest.MustBuild(t, ringhash.Config{Compat: compat}, eps)
		counts := lbtest.Count(t, p, 200000, lbtest.Requests(200000, true))
		for i, e := range eps {
			share := float64(counts[e.ID]) / 200000
			assert.InDelta(t, float64(i+1)/10, share, 0.025, "%v endpoint %d", compat, i)
		}
	}
}

func TestTableBytes(t *testing.T) {
	p := lbtest.MustBuild(t, ringhash.Config{}, lbtest.Endpoints(lbtest.Backends(10)))
	ts, ok := p.(balancer.TableSizer)
	require.True(t, ok)
	// 256 entries an endpoint of 16 bytes each, plus the index.
	assert.GreaterOrEqual(t, ts.TableBytes(), 10*256*16)
	assert.Less(t, ts.TableBytes(), 10*256*16*2)
}
