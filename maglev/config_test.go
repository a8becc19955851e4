package maglev

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

func TestBuildErrors(t *testing.T) {
	five := lbtest.Endpoints(lbtest.Backends(5))
	dup := lbtest.Endpoints([]balancer.Backend{{ID: "a"}, {ID: "b"}, {ID: "a"}})
	empty := lbtest.Endpoints([]balancer.Backend{{ID: "a"}, {ID: ""}})
	cases := []struct {
		name string
		c    Config
		eps  []*balancer.Endpoint
		want error
	}{
		{"not prime", Config{TableSize: 65536}, five, ErrTableSize},
		{"one", Config{TableSize: 1}, five[:1], ErrTableSize},
		{"smaller than N", Config{TableSize: 3}, five, ErrTableSize},
		{"above the maximum", Config{TableSize: MaxTableSize + 2}, five, ErrTableSize},
		{"huge", Config{TableSize: math.MaxUint64}, five, ErrTableSize},
		{"not prime, empty set", Config{TableSize: 100}, nil, ErrTableSize},
		{"factor below 1", Config{BalanceFactor: 0.5}, five, ErrBalanceFactor},
		{"negative factor", Config{BalanceFactor: -1.25}, five, ErrBalanceFactor},
		{"NaN factor", Config{BalanceFactor: math.NaN()}, five, ErrBalanceFactor},
		{"infinite factor", Config{BalanceFactor: math.Inf(1)}, five, ErrBalanceFactor},
		{"duplicate ID", Config{}, dup, balancer.ErrInvalidBackend},
		{"empty ID", Config{}, empty, balancer.ErrInvalidBackend},
		{"nil endpoint", Config{}, []*balancer.Endpoint{five[0], nil}, balancer.ErrInvalidBackend},
		{"endpoint not made by NewEndpoint", Config{}, []*balancer.Endpoint{{Backend: balancer.Backend{ID: "x"}}}, balancer.ErrInvalidBackend},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.c.Build(c.eps)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "maglev: "), "error %q lacks the package prefix", err)
		})
	}
}

func TestBuildLimits(t *testing.T) {
	// M = N: one slot each.
	p := build(t, Config{TableSize: 7}, lbtest.Backends(7))
	for id, c := range shares(ids(t, p)) {
		assert.Equal(t, 1, c, id)
	}
	// M = 2, the smallest prime.
	p = build(t, Config{TableSize: 2}, lbtest.Backends(2))
	assert.Len(t, shares(ids(t, p)), 2)
	// The largest table.
	if !testing.Short() {
		p = build(t, Config{TableSize: MaxTableSize}, lbtest.Weighted(1, 2, 3))
		s := shares(ids(t, p))
		assert.Len(t, s, 3)
		assert.Equal(t, MaxTableSize, s[lbtest.Addr(0)]+s[lbtest.Addr(1)]+s[lbtest.Addr(2)])
	}
}

func TestEmpty(t *testing.T) {
	for _, eps := range [][]*balancer.Endpoint{nil, {}} {
		p, err := Config{}.Build(eps)
		require.NoError(t, err)
		_, err = p.Pick(balancer.KeyRequest("k"))
		assert.ErrorIs(t, err, balancer.ErrNoEndpoints)
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(20))
	before := append([]*balancer.Endpoint(nil), eps...)
	build(t, Config{}, lbtest.Backends(20))
	_, err := Config{}.Build(eps)
	require.NoError(t, err)
	assert.Equal(t, before, eps)
}

func TestTrackTotalInFlight(t *testing.T) {
	assert.False(t, Config{}.TrackTotalInFlight())
	assert.True(t, Config{BalanceFactor: 1.25}.TrackTotalInFlight())
	var _ balancer.TotalInFlightTracker = Config{}
	var _ balancer.Builder = Config{}
	assert.True(t, errors.Is(ErrTableSize, ErrTableSize))
}
