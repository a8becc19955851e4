package random

import (
	"math/bits"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/alias"
)

// uniform picks each endpoint with probability 1/n. It is immutable and
// safe for concurrent use by multiple goroutines.
type uniform struct {
	eps []*balancer.Endpoint
	src rand.Source
}

// Pick returns a uniformly random endpoint. It ignores req.
func (p *uniform) Pick(balancer.Request) (*balancer.Endpoint, error) {
	var x uint64
	if p.src == nil {
		// Spelled out rather than xrand.Uint64, which is too big to
		// inline: the call would cost a fifth of the pick.
		x = rand.Uint64()
	} else {
		x = p.src.Uint64()
	}
	i, _ := bits.Mul64(x, uint64(len(p.eps)))
	return p.eps[i], nil
}

// weighted picks endpoint i with probability w_i/Σw through an alias
// table. It is immutable and safe for concurrent use by multiple goroutines.
type weighted struct {
	eps   []*balancer.Endpoint
	table alias.Table
	src   rand.Source
}

// Pick returns a random endpoint in proportion to weight. It ignores req.
func (p *weighted) Pick(balancer.Request) (*balancer.Endpoint, error) {
	var x uint64
	if p.src == nil {
		x = rand.Uint64() // as in uniform.Pick
	} else {
		x = p.src.Uint64()
	}
	return p.eps[p.table.Pick(x)], nil
}
