package leastconn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

// modes are the configurations every mode test runs, by name.
var modes = map[string]leastconn.Config{
	"p2c":            {},
	"d=3":            {Choices: 3},
	"d=10":           {Choices: 10},
	"fullscan":       {FullScan: true},
	"peakewma":       {PeakEWMA: true},
	"peakewma/d=4":   {PeakEWMA: true, Choices: 4},
	"peakewma/scan":  {PeakEWMA: true, FullScan: true},
	"seeded":         {Rand: balancer.NewSource(1)},
	"seeded/d=5":     {Choices: 5, Rand: balancer.NewSource(2)},
	"seeded/scan":    {FullScan: true, Rand: balancer.NewSource(3)},
	"seeded/peak":    {PeakEWMA: true, Rand: balancer.NewSource(4)},
	"peakewma/decay": {PeakEWMA: true, Decay: time.Second, DefaultLatency: time.Millisecond},
}

func TestContract(t *testing.T) {
	for name, c := range modes {
		t.Run(name, func(t *testing.T) { lbtest.Contract(t, c) })
	}
}

func TestBuildErrors(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(3))
	for _, c := range []leastconn.Config{
		{Choices: 1},
		{Choices: 11},
		{Choices: -1},
		{Choices: 1, FullScan: true},
		{Decay: -time.Second},
		{DefaultLatency: -time.Millisecond},
	} {
		for _, set := range [][]*balancer.Endpoint{eps, nil} {
			p, err := c.Build(set)
			require.Error(t, err, "%+v", c)
			assert.Nil(t, p)
			assert.True(t, errors.Is(err, leastconn.ErrInvalidConfig), "%+v: %v", c, err)
			assert.Regexp(t, "^leastconn: ", err.Error())
		}
		_, err := balancer.New(c).Pick(balancer.Request{})
		assert.ErrorIs(t, err, balancer.ErrNoEndpoints)
		assert.Error(t, balancer.New(c).Update(lbtest.Backends(2)))
	}
	for _, c := range []int{0, 2, 5, 10} {
		_, err := leastconn.Config{Choices: c}.Build(eps)
		assert.NoError(t, err, "Choices %d", c)
	}
}

func TestBuildInvalidBackend(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(3))
	for name, set := range map[string][]*balancer.Endpoint{
		"nil":       {eps[0], nil},
		"duplicate": {eps[0], eps[1], eps[0]},
		"zero":      {eps[0], {}},
	} {
		_, err := leastconn.Config{}.Build(set)
		assert.ErrorIs(t, err, balancer.ErrInvalidBackend, name)
		assert.Regexp(t, "^leastconn: ", err.Error(), name)
	}
}

func TestLatencyDecay(t *testing.T) {
	var d balancer.LatencyDecayer = leastconn.Config{}
	assert.Equal(t, 10*time.Second, d.LatencyDecay())
	assert.Equal(t, 3*time.Second, leastconn.Config{Decay: 3 * time.Second}.LatencyDecay())
	assert.Equal(t, leastconn.DefaultDecay, leastconn.Config{Decay: -1}.LatencyDecay())
}

// TestIgnoresRequest checks that the hash and the attempt change nothing:
// two pickers with the same seed pick the same sequence.
func TestIgnoresRequest(t *testing.T) {
	for name, c := range modes {
		if c.PeakEWMA {
			continue // reads the clock when Request.Now is zero
		}
		eps := lbtest.Endpoints(lbtest.Weighted(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
		c.Rand = balancer.NewSource(5)
		a := lbtest.MustBuild(t, c, eps)
		c.Rand = balancer.NewSource(5)
		b := lbtest.MustBuild(t, c, eps)
		for i := range 200 {
			x, err := a.Pick(balancer.Request{})
			require.NoError(t, err)
			y, err := b.Pick(balancer.Request{Hash: uint64(i) * 0x9e3779b97f4a7c15, HasHash: true, Attempt: i})
			require.NoError(t, err)
			require.Same(t, x, y, "%s: pick %d depends on the request", name, i)
		}
	}
}
