package leastconn

import (
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// scan looks at every endpoint and picks an exact least loaded one; among
// equally loaded endpoints it picks at random in proportion to weight
// (weighted reservoir sampling), so that at zero load its picks follow the
// weights as random's do. It is immutable and safe for concurrent use by
// multiple goroutines.
type scan struct {
	eps  []*balancer.Endpoint // not empty
	peak bool
	cost costModel
	src  rand.Source
}

// Pick returns a least loaded endpoint in O(n). It ignores req.Hash and
// req.Attempt.
func (p *scan) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	if p.peak {
		return p.pickPeak(req), nil
	}
	rng := wyrand(xrand.Uint64(p.src))
	best := p.eps[0]
	bIn, bW := best.Load(), weight(best)
	// tied is the total weight of the endpoints seen at the least load so
	// far; each replaces the current choice with probability weight/tied,
	// so that each ends up chosen with probability weight/(total tied).
	tied := uint64(bW)
	for _, e := range p.eps[1:] {
		in, w := e.Load(), weight(e)
		x, y := in*bW, bIn*w
		if x > y {
			continue
		}
		if x < y {
			best, bIn, bW, tied = e, in, w, uint64(w)
			continue
		}
		tied += uint64(w)
		if rng.n(tied) < uint64(w) {
			best, bIn, bW = e, in, w
		}
	}
	return best, nil
}

// pickPeak is Pick by peak-EWMA cost.
func (p *scan) pickPeak(req balancer.Request) *balancer.Endpoint {
	now := now(req)
	rng := wyrand(xrand.Uint64(p.src))
	best := p.eps[0]
	bCost, bW := p.cost.cost(best, now), float64(weight(best))
	tied := uint64(bW)
	for _, e := range p.eps[1:] {
		c, w := p.cost.cost(e, now), weight(e)
		x, y := c*bW, bCost*float64(w)
		if x > y {
			continue
		}
		if x < y {
			best, bCost, bW, tied = e, c, float64(w), uint64(w)
			continue
		}
		tied += uint64(w)
		if rng.n(tied) < uint64(w) {
			best, bCost, bW = e, c, float64(w)
		}
	}
	return best
}
