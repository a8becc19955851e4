package health_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/roundrobin"
)

// FuzzConfig feeds arbitrary numbers to every field of a Config: New
// either rejects them with ErrConfig or runs, never panics, and a Monitor
// it makes ejects and returns endpoints without overflowing time.
func FuzzConfig(f *testing.F) {
	f.Add(0.0, 0, 0, int64(0), int64(0), int64(0), 0.0, 0.0, 0.0, -1.0, int64(time.Second), 0.0, 0.0)
	f.Add(50.0, 5, 5, int64(10e9), int64(30e9), int64(300e9), 10.0, 1.9, 85.0, 100.0, int64(30e9), 1.0, 10.0)
	f.Add(-1.0, 1, 1, int64(1), int64(1<<62), int64(1), 100.0, 1000.0, 100.0, 0.0, int64(1), 1000.0, 100.0)
	f.Fuzz(func(t *testing.T, panicPct float64, c5xx, cgw int, interval, base, maxEj int64,
		maxPct, stdev, fpThreshold, enforcing float64, window int64, aggression, minWeight float64) {
		cfg := health.Config{
			PanicThreshold: panicPct,
			Outlier: &health.OutlierDetection{
				Consecutive5xx: c5xx, ConsecutiveGatewayFailure: cgw,
				Interval: time.Duration(interval), BaseEjectionTime: time.Duration(base),
				MaxEjectionTime: time.Duration(maxEj), MaxEjectionPercent: maxPct,
				SuccessRateStdevFactor: stdev, FailurePercentageThreshold: fpThreshold,
				EnforcingConsecutive5xx: enforcing, EnforcingFailurePercentage: enforcing,
			},
			SlowStart: &health.SlowStart{Window: time.Duration(window), Aggression: aggression, MinWeightPercent: minWeight},
		}
		bal := balancer.New(roundrobin.Config{})
		if err := bal.UpdateAt(1, backends(4)); err != nil {
			t.Fatal(err)
		}
		m, err := health.New(bal, cfg, 1)
		if err != nil {
			if !errors.Is(err, health.ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		e := bal.Endpoints()[0]
		for range max(c5xx, 5) + 1 {
			if c5xx > 1000 {
				break
			}
			e.Begin().Done(balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: 2})
		}
		if h := e.Health(); h.Ejected && h.EjectedUntil < 2 {
			t.Fatalf("ejected until %d, before the ejection", h.EjectedUntil)
		}
		now := int64(2)
		for range 10 {
			next := m.Advance(now)
			if next <= now {
				t.Fatalf("Advance(%d) returned %d: time does not go forward", now, next)
			}
			now = next
		}
		if _, err := bal.Pick(balancer.Request{}); err != nil && !errors.Is(err, balancer.ErrNoEndpoints) {
			t.Fatal(err)
		}
	})
}
