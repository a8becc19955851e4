package random

import (
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/alias"
	"github.com/lbkit/lbkit/internal/xrand"
)

// uniform picks each endpoint with probability 1/n. It is immutable and
// safe for concurrent use by multiple goroutines.
type uniform struct {
	eps []*balancer.Endpoint
	src rand.Source
}

// Pick returns a uniformly random endpoint. It ignores req.
func (p *uniform) Pick(balancer.Request) (*balancer.Endpoint, error) {
	return p.eps[xrand.N(p.src, uint64(len(p.eps)))], nil
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
	return p.eps[p.table.Pick(xrand.Uint64(p.src))], nil
}
