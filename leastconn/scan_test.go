package leastconn_test

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

// exactLoad returns e's load per unit of weight as an exact rational: in
// flight / weight, or latency × (in flight + 1) / weight for peak EWMA.
func exactLoad(e *balancer.Endpoint, peak bool, now time.Time) *big.Rat {
	num := big.NewRat(e.InFlight(), 1)
	if peak {
		lat := e.Latency(now.UnixNano())
		if lat <= 0 {
			lat = leastconn.DefaultLatency
		}
		num = big.NewRat(int64(lat), 1)
		num.Mul(num, big.NewRat(max(e.InFlight(), 0)+1, 1))
	}
	return num.Quo(num, big.NewRat(int64(e.Weight), 1))
}

// TestFullScanExactMinimum sets random loads, weights and latencies and
// checks that every full-scan pick, and every pick of d ≥ n choices, is
// an exact minimum.
func TestFullScanExactMinimum(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for trial := range 300 {
		n := 1 + r.IntN(40)
		bs := lbtest.Backends(n)
		for i := range bs {
			if trial%2 == 1 {
				bs[i].Weight = uint32(1 + r.IntN(8))
			}
		}
		eps := lbtest.Endpoints(bs)
		for _, e := range eps {
			for range r.IntN(6) {
				e.Begin()
			}
			if r.IntN(3) > 0 {
				res := e.Begin()
				res.Done(balancer.DoneInfo{Latency: time.Duration(1+r.IntN(5)) * time.Millisecond, Now: now.UnixNano()})
			}
		}
		peak := trial%3 == 0
		c := leastconn.Config{FullScan: true, PeakEWMA: peak, Rand: balancer.NewSource(uint64(trial))}
		if n <= leastconn.MaxChoices && trial%5 == 0 {
			c = leastconn.Config{Choices: leastconn.MaxChoices, PeakEWMA: peak}
		}
		p := lbtest.MustBuild(t, c, eps)
		least := exactLoad(eps[0], peak, now)
		for _, e := range eps[1:] {
			if l := exactLoad(e, peak, now); l.Cmp(least) < 0 {
				least = l
			}
		}
		for range 20 {
			e, err := p.Pick(balancer.Request{Now: now.UnixNano()})
			require.NoError(t, err)
			require.Zero(t, exactLoad(e, peak, now).Cmp(least), "trial %d (%+v): picked %s at %v, least is %v",
				trial, c, e.ID, exactLoad(e, peak, now), least)
		}
	}
}
