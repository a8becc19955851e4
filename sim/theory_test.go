package sim

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queueing is a scenario for the theory checks: pods of one worker with
// exponential service, Poisson arrivals, one proxy and no churn, so each
// pod is an M/M/1 queue fed by the algorithm.
func queueing(pods int, perPod float64, mean time.Duration, dur time.Duration, alg string) Scenario {
	return Scenario{
		Name:       "queueing",
		Duration:   Duration(dur),
		Window:     Duration(dur / 40),
		Algorithms: named(alg),
		Deployment: Deployment{Replicas: pods, Template: PodTemplate{Workers: 1, ServiceTime: Exp(mean)}},
		Workload:   Workload{Rate: perPod * float64(pods)},
		Proxies:    Proxies{Replicas: 1},
	}
}

// batchMeans returns the mean latency in seconds and its standard error,
// estimated by the method of batch means over the run's windows (skipping
// the first, the warm-up from empty queues).
func batchMeans(t *testing.T, r *Result) (mean, stderr float64) {
	var xs []float64
	for _, w := range r.Windows[1:] {
		if w.Succeeded > 0 {
			xs = append(xs, w.Mean.Std().Seconds())
		}
	}
	require.Greater(t, len(xs), 20)
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	m := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - m) * (x - m)
	}
	return m, math.Sqrt(sq/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
}

// Random routing splits a Poisson stream into independent Poisson streams,
// so every pod is an M/M/1 queue: the mean response time is 1/(mu-lambda)
// and the response time is exponential, so its p99 is ln(100)/(mu-lambda).
// The tolerance is four standard errors of the batch-means estimate (the
// chance of a false failure is below 1e-4), and never looser than 5%.
func TestMM1(t *testing.T) {
	const mu, lambda = 100.0, 70.0 // per second, per pod
	sc := queueing(10, lambda, 10*time.Millisecond, 400*time.Second, "random")
	r, err := Run(sc, mustAlg(t, "random"), Options{})
	require.NoError(t, err)
	want := 1 / (mu - lambda)
	mean, se := batchMeans(t, r)
	tol := min(4*se, 0.05*want)
	t.Logf("M/M/1 at rho=0.7: mean %.2f ms (theory %.2f ms), batch-means stderr %.2f ms, %d requests",
		mean*1e3, want*1e3, se*1e3, r.Succeeded)
	assert.InDelta(t, want, mean, tol, "mean response time")
	assert.InDelta(t, want, r.Latency.Mean.Std().Seconds(), tol, "mean response time over the whole run")
	assert.InEpsilon(t, math.Log(100)/(mu-lambda), r.Latency.P99.Std().Seconds(), 0.05, "p99 of an exponential")
	assert.Zero(t, r.Failed)
}

// Power of two choices against Mitzenmacher's supermarket model: with d
// choices at load lambda (service rate 1) the n -> infinity fixed point
// gives a mean time in system of sum_{i>=1} lambda^((d^i - d)/(d - 1)).
// At n = 100 pods the finite-size correction is of order 1/n (a few per
// cent, and lbkit's distinct sampling makes it slightly better than the
// model's sampling with replacement), so the test allows 6% and checks that
// the result is far from random routing's M/M/1 figure (10x the service
// time at lambda = 0.9).
func TestSupermarket(t *testing.T) {
	const lambda = 0.9
	service := 10 * time.Millisecond
	for _, tc := range []struct {
		alg string
		d   float64
	}{{"least-request", 2}, {"least-request-3", 3}} {
		t.Run(tc.alg, func(t *testing.T) {
			sc := queueing(100, lambda/service.Seconds(), service, 60*time.Second, tc.alg)
			r, err := Run(sc, mustAlg(t, tc.alg), Options{})
			require.NoError(t, err)
			var want float64
			for i := 1; i < 64; i++ {
				want += math.Pow(lambda, (math.Pow(tc.d, float64(i))-tc.d)/(tc.d-1))
			}
			want *= service.Seconds()
			mean, se := batchMeans(t, r)
			t.Logf("d=%v at lambda=0.9: mean %.2f ms, fixed point %.2f ms, stderr %.2f ms (random: %.0f ms)",
				tc.d, mean*1e3, want*1e3, se*1e3, service.Seconds()/(1-lambda)*1e3)
			assert.InEpsilon(t, want, mean, 0.06)
			assert.Less(t, mean, 0.5*service.Seconds()/(1-lambda))
		})
	}
}

func mustAlg(t *testing.T, name string) Algorithm {
	algs, err := SelectAlgorithms([]string{name})
	require.NoError(t, err)
	return algs[0]
}
