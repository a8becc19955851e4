package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
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

// sampler draws durations from a Dist with the run's random generator.
type sampler struct {
	kind int // 0 constant, 1 exponential, 2 lognormal, 3 pareto
	mean float64
	ln   distuv.LogNormal
	par  distuv.Pareto
	r    *rand.Rand
}

func newSampler(d Dist, r *rand.Rand, src rand.Source) sampler {
	s := sampler{mean: float64(d.Mean), r: r}
	switch strings.ToLower(d.Distribution) {
	case "exponential":
		s.kind = 1
	case "lognormal":
		s.kind = 2
		sigma := d.Sigma
		if sigma == 0 {
			sigma = 1
		}
		// The mean of a lognormal is exp(mu + sigma^2/2).
		s.ln = distuv.LogNormal{Mu: math.Log(s.mean) - sigma*sigma/2, Sigma: sigma, Src: src}
	case "pareto":
		s.kind = 3
		alpha := d.Alpha
		if alpha == 0 {
			alpha = 2.5
		}
		// The mean of a Pareto is xm * alpha / (alpha - 1).
		s.par = distuv.Pareto{Xm: s.mean * (alpha - 1) / alpha, Alpha: alpha, Src: src}
	}
	return s
}

// draw returns one sample, at least 0 and at most a day.
func (s *sampler) draw() time.Duration {
	var v float64
	switch {
	case s.mean == 0:
		return 0
	case s.kind == 0:
		v = s.mean
	case s.kind == 1:
		v = s.r.ExpFloat64() * s.mean
	case s.kind == 2:
		v = s.ln.Rand()
	default:
		v = s.par.Rand()
	}
	return time.Duration(min(max(v, 0), float64(24*time.Hour)))
}
