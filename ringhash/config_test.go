package ringhash_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/ringhash"
)

func TestConfigErrors(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(3))
	for _, tc := range []struct {
		name string
		cfg  ringhash.Config
	}{
		{"factor below 1", ringhash.Config{BalanceFactor: 0.5}},
		{"negative factor", ringhash.Config{BalanceFactor: -1}},
		{"NaN factor", ringhash.Config{BalanceFactor: math.NaN()}},
		{"Inf factor", ringhash.Config{BalanceFactor: math.Inf(1)}},
		{"min above max", ringhash.Config{MinRingSize: 20, MaxRingSize: 10}},
		{"envoy min above max", ringhash.Config{Compat: ringhash.Envoy, MinRingSize: 20, MaxRingSize: 10}},
		{"grpc min above default max", ringhash.Config{Compat: ringhash.GRPC, MinRingSize: 5000}},
		{"max above limit", ringhash.Config{MaxRingSize: ringhash.MaxRingSizeLimit + 1}},
		{"min above limit", ringhash.Config{Compat: ringhash.Envoy, MinRingSize: math.MaxUint64}},
		{"replicas above limit", ringhash.Config{Replicas: ringhash.MaxReplicas + 1}},
		{"unknown compat", ringhash.Config{Compat: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, set := range [][]*balancer.Endpoint{nil, eps} {
				p, err := tc.cfg.Build(set)
				require.ErrorIs(t, err, ringhash.ErrInvalidConfig)
				assert.Nil(t, p)
				assert.True(t, strings.HasPrefix(err.Error(), "ringhash: "), err.Error())
			}
		})
	}
}

func TestBackendErrors(t *testing.T) {
	good := lbtest.Endpoints(lbtest.Backends(2))
	dup := lbtest.Endpoints(lbtest.Backends(2))
	dup[1] = balancer.NewEndpoint(balancer.Backend{ID: dup[0].ID})
	for _, tc := range []struct {
		name string
		eps  []*balancer.Endpoint
	}{
		{"nil endpoint", []*balancer.Endpoint{good[0], nil}},
		{"empty ID", []*balancer.Endpoint{good[0], balancer.NewEndpoint(balancer.Backend{})}},
		{"duplicate ID", dup},
		{"not made by NewEndpoint", []*balancer.Endpoint{{Backend: balancer.Backend{ID: "x"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, compat := range []ringhash.Compat{ringhash.Native, ringhash.Envoy, ringhash.GRPC} {
				_, err := ringhash.Config{Compat: compat}.Build(tc.eps)
				require.ErrorIs(t, err, balancer.ErrInvalidBackend)
				assert.True(t, strings.HasPrefix(err.Error(), "ringhash: "), err.Error())
			}
		})
	}
}

func TestEnvoyWeightSumLimit(t *testing.T) {
	// Envoy rejects host weights that add up to more than 2^32-1.
	_, err := ringhash.Config{Compat: ringhash.Envoy}.Build(lbtest.Endpoints(lbtest.Weighted(math.MaxUint32, 1)))
	require.ErrorIs(t, err, balancer.ErrInvalidBackend)
	// The other layouts accept them.
	for _, compat := range []ringhash.Compat{ringhash.Native, ringhash.GRPC} {
		_, err := ringhash.Config{Compat: compat}.Build(lbtest.Endpoints(lbtest.Weighted(math.MaxUint32, 1)))
		require.NoError(t, err, compat)
	}
}

func TestTrackTotalInFlight(t *testing.T) {
	var tr balancer.TotalInFlightTracker = ringhash.Config{}
	assert.False(t, tr.TrackTotalInFlight())
	tr = ringhash.Config{BalanceFactor: 1.25}
	assert.True(t, tr.TrackTotalInFlight())
}

func TestCompatString(t *testing.T) {
	assert.Equal(t, "native", ringhash.Native.String())
	assert.Equal(t, "envoy", ringhash.Envoy.String())
	assert.Equal(t, "grpc", ringhash.GRPC.String())
	assert.Equal(t, "Compat(9)", ringhash.Compat(9).String())
	assert.True(t, errors.Is(ringhash.ErrInvalidConfig, ringhash.ErrInvalidConfig))
}
