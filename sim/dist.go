package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Dist describes a distribution of durations: service times, readiness
// delays, propagation delays, think times. The zero Dist is the constant
// zero.
type Dist struct {
	// Distribution is exponential, constant, lognormal or pareto. Empty
	// means constant.
	Distribution string `yaml:"distribution" json:"distribution,omitempty"`
	// Mean is the distribution's mean.
	Mean Duration `yaml:"mean" json:"mean"`
	// Sigma is the standard deviation of the logarithm, for lognormal.
	// Zero means 1.
	Sigma float64 `yaml:"sigma" json:"sigma,omitempty"`
	// Alpha is the tail index, for pareto; it must exceed 1 so that the mean
	// exists. Zero means 2.5 (p99 about 5.3 times the mean).
	Alpha float64 `yaml:"alpha" json:"alpha,omitempty"`
}

// Exp returns an exponential Dist of the given mean.
func Exp(mean time.Duration) Dist { return Dist{Distribution: "exponential", Mean: Duration(mean)} }

// Const returns a constant Dist.
func Const(d time.Duration) Dist { return Dist{Distribution: "constant", Mean: Duration(d)} }

func (d Dist) validate(field string) error {
	if d.Mean < 0 {
		return fieldErr(field+".mean", "is negative (%v)", time.Duration(d.Mean))
	}
	switch strings.ToLower(d.Distribution) {
	case "", "constant", "exponential":
	case "lognormal":
		if d.Sigma < 0 || math.IsNaN(d.Sigma) || math.IsInf(d.Sigma, 0) || d.Sigma > 10 {
			return fieldErr(field+".sigma", "must be in [0, 10], got %v", d.Sigma)
		}
	case "pareto":
		if d.Alpha != 0 && !(d.Alpha > 1 && d.Alpha < 1e6) {
			return fieldErr(field+".alpha", "must be above 1, got %v", d.Alpha)
		}
	default:
		return fieldErr(field+".distribution", "%q is not one of exponential, constant, lognormal, pareto", d.Distribution)
	}
	return nil
}

// sampler draws durations from a Dist. Every draw goes through the
// distribution's quantile function, so a draw can also be made from a
// uniform number the caller chose: that is how every algorithm of a
// replication gets the same service time for the same request (common
// random numbers).
type sampler struct {
	kind  int // 0 constant, 1 exponential, 2 lognormal, 3 pareto
	mean  float64
	mu    float64 // lognormal: mean of the logarithm
	sigma float64 // lognormal: stddev of the logarithm
	xm    float64 // pareto: scale
	alpha float64 // pareto: tail index
	r     *rand.Rand
}

func newSampler(d Dist, r *rand.Rand) sampler {
	s := sampler{mean: float64(d.Mean), r: r}
	switch strings.ToLower(d.Distribution) {
	case "exponential":
		s.kind = 1
	case "lognormal":
		s.kind = 2
		s.sigma = d.Sigma
		if s.sigma == 0 {
			s.sigma = 1
		}
		// The mean of a lognormal is exp(mu + sigma^2/2).
		s.mu = math.Log(s.mean) - s.sigma*s.sigma/2
	case "pareto":
		s.kind = 3
		s.alpha = d.Alpha
		if s.alpha == 0 {
			s.alpha = 2.5
		}
		// The mean of a Pareto is xm * alpha / (alpha - 1).
		s.xm = s.mean * (s.alpha - 1) / s.alpha
	}
	return s
}

// draw returns one sample drawn with the sampler's generator.
func (s *sampler) draw() time.Duration {
	if s.mean == 0 || s.kind == 0 {
		return time.Duration(s.mean)
	}
	return s.at(s.r.Float64())
}

// at returns the quantile u of the distribution, u in [0, 1): a sample
// when u is uniform. It is at least 0 and at most a day.
func (s *sampler) at(u float64) time.Duration {
	var v float64
	switch {
	case s.mean == 0:
		return 0
	case s.kind == 0:
		v = s.mean
	case s.kind == 1:
		v = -math.Log1p(-u) * s.mean
	case s.kind == 2:
		v = math.Exp(s.mu + s.sigma*math.Sqrt2*math.Erfinv(2*u-1))
	default:
		v = s.xm * math.Pow(1-u, -1/s.alpha)
	}
	if math.IsNaN(v) {
		v = 0
	}
	return time.Duration(min(max(v, 0), float64(24*time.Hour)))
}
