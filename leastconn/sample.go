package leastconn

import (
	"math/bits"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/alias"
	"github.com/lbkit/lbkit/internal/xrand"
)

// p2c is the power of two choices over requests in flight when every weight
// is equal, the common case, with nothing else to consult. It samples two
// distinct endpoints from one random number and takes the one with fewer
// requests in flight, the first drawn on a tie. It is immutable and safe
// for concurrent use by multiple goroutines.
type p2c struct {
	eps []*balancer.Endpoint // at least 3
	src rand.Source
}

// Pick returns the less loaded of two distinct random endpoints. It ignores
// req.
func (p *p2c) Pick(balancer.Request) (*balancer.Endpoint, error) {
	n := uint64(len(p.eps))
	// The high half of r×n is uniform in [0, n); the low half is a fresh
	// fraction that picks j among the other n-1 (bias below n²/2^64).
	var x uint64
	if p.src == nil {
		// Spelled out rather than xrand.Uint64, which is too big to
		// inline: the call would cost a tenth of the pick.
		x = rand.Uint64()
	} else {
		x = p.src.Uint64()
	}
	i, rest := bits.Mul64(x, n)
	j, _ := bits.Mul64(rest, n-1)
	// Both choices below are coin flips to the branch predictor, so they
	// are written as conditional moves: a mispredicted branch here cost
	// a third of the pick under real load.
	var skip uint64
	if j >= i {
		skip = 1
	}
	j += skip
	a, b := p.eps[i], p.eps[j]
	e := a
	if b.Load() < a.Load() {
		e = b
	}
	return e, nil
}

// p2cWeighted is the power of two choices when weights differ, the
// sample picker's rule for two candidates without its general loop: the
// first drawn by weight, the second by weight among the others, the
// smaller in-flight per unit of weight winning, the first on a tie. It is
// immutable and safe for concurrent use by multiple goroutines.
type p2cWeighted struct{ s *sample }

// Pick returns the less loaded, per unit of weight, of two distinct
// endpoints drawn by weight. It ignores req.
func (p *p2cWeighted) Pick(balancer.Request) (*balancer.Endpoint, error) {
	s := p.s
	var x uint64
	if s.src == nil {
		x = rand.Uint64() // as in p2c.Pick
	} else {
		x = s.src.Uint64()
	}
	rng := wyrand(x)
	i := uint64(s.table.Pick(x))
	drawn := [1]uint64{i}
	j := s.draw(&rng, drawn[:])
	a, b := s.eps[i], s.eps[j]
	e := a
	if b.Load()*weight(a) < a.Load()*weight(b) {
		e = b
	}
	return e, nil
}

// maxRejections bounds the weighted draws of one candidate that may land
// on an endpoint already drawn before the draw falls back to a uniform
// choice among the rest, so that a weight of 2^32-1 next to a weight of 1
// never spins.
const maxRejections = 8

// sample is the power of d choices in general: d distinct endpoints, drawn
// in proportion to weight when weights differ (nginx's "random two
// least_conn"), compared by in flight or peak-EWMA cost per unit of weight,
// ties going to the earliest draw. It is immutable and safe for concurrent
// use by multiple goroutines.
type sample struct {
	eps     []*balancer.Endpoint // more than choices
	table   alias.Table          // empty when every weight is equal
	choices int                  // 2 to MaxChoices
	peak    bool
	cost    costModel
	src     rand.Source
}

// Pick returns the least loaded of Choices distinct random endpoints. It
// ignores req.Hash and req.Attempt.
func (p *sample) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	if p.peak {
		return p.pickPeak(req), nil
	}
	// One draw from the source seeds a local generator for every
	// candidate of this pick.
	rng := wyrand(xrand.Uint64(p.src))
	// drawn holds the candidates so far, in increasing order.
	var drawn [MaxChoices]uint64
	i := p.draw(&rng, drawn[:0])
	drawn[0] = i
	best := p.eps[i]
	bIn, bW := best.Load(), weight(best)
	for k := 1; k < p.choices; k++ {
		i := p.draw(&rng, drawn[:k])
		insert(drawn[:k+1], i)
		e := p.eps[i]
		if in, w := e.Load(), weight(e); in*bW < bIn*w {
			best, bIn, bW = e, in, w
		}
	}
	return best, nil
}

// pickPeak is Pick by peak-EWMA cost.
func (p *sample) pickPeak(req balancer.Request) *balancer.Endpoint {
	now := now(req)
	rng := wyrand(xrand.Uint64(p.src))
	var drawn [MaxChoices]uint64
	i := p.draw(&rng, drawn[:0])
	drawn[0] = i
	best := p.eps[i]
	bCost, bW := p.cost.cost(best, now), float64(weight(best))
	for k := 1; k < p.choices; k++ {
		i := p.draw(&rng, drawn[:k])
		insert(drawn[:k+1], i)
		e := p.eps[i]
		if c, w := p.cost.cost(e, now), float64(weight(e)); c*bW < bCost*w {
			best, bCost, bW = e, c, w
		}
	}
	return best
}

// draw returns an index not in drawn: in proportion to weight if the
// weights differ (up to maxRejections tries), uniformly otherwise.
func (p *sample) draw(rng *wyrand, drawn []uint64) uint64 {
	if p.table.Len() > 0 {
	try:
		for range maxRejections {
			i := uint64(p.table.Pick(rng.next()))
			for _, d := range drawn {
				if d == i {
					continue try
				}
			}
			return i
		}
	}
	// The x-th index not drawn: step over each drawn index at or below x,
	// in increasing order.
	x := rng.n(uint64(len(p.eps) - len(drawn)))
	for _, d := range drawn {
		if x < d {
			break
		}
		x++
	}
	return x
}

// insert puts i into its place in the increasing s, whose last slot is
// free.
func insert(s []uint64, i uint64) {
	k := len(s) - 1
	for k > 0 && s[k-1] > i {
		s[k] = s[k-1]
		k--
	}
	s[k] = i
}
