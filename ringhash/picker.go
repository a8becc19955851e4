package ringhash

import (
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// picker is an immutable ring snapshot. It is safe for concurrent use by
// multiple goroutines: Pick reads the ring and the endpoints' atomic load
// counters, and writes nothing.
type picker struct {
	eps    []*balancer.Endpoint
	ring   *ring
	index  index
	compat Compat
	src    rand.Source
	// share[i] is BalanceFactor × weight_i / total weight, endpoint i's
	// share of the in-flight requests under bounded loads; nil when they
	// are off.
	share []float64
}

func newPicker(eps []*balancer.Endpoint, r *ring, s settings, src rand.Source) *picker {
	p := &picker{eps: eps, ring: r, index: newIndex(r.hashes), compat: s.compat, src: src}
	if s.factor > 0 {
		p.share = shares(eps, s.factor)
	}
	return p
}

// TableBytes returns the size of the ring (a hash, an owner and a link an
// entry) and of its index.
func (p *picker) TableBytes() int {
	r := p.ring
	return 8*len(r.hashes) + 4*len(r.owners) + 4*len(r.prev) + 4*len(p.index.start) + 8*len(p.share) + 8*len(p.eps)
}

// Pick returns the endpoint that owns the first ring entry at or after
// req.Hash (a random hash when req.HasHash is false). A retry, Attempt k,
// takes the k-th distinct endpoint after it along the ring, modulo the
// number of endpoints on the ring; with Compat Envoy it takes the entry k
// places further on, as Envoy does, which may be the same endpoint. With
// bounded loads, an endpoint without room passes the request on along the
// ring. Pick never blocks and allocates nothing.
func (p *picker) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	h := req.Hash
	if !req.HasHash {
		h = xrand.Uint64(p.src)
	}
	q := p.index.search(p.ring.hashes, h)
	if req.Attempt > 0 {
		q = p.retry(q, req.Attempt)
	}
	if p.share != nil {
		q = p.bounded(q)
	}
	return p.eps[p.ring.owners[q]], nil
}

// retry returns the entry that attempt k > 0 of a request hashed to entry
// q lands on.
func (p *picker) retry(q, k int) int {
	if p.compat == Envoy {
		return int((uint64(q) + uint64(k)) % uint64(len(p.ring.hashes)))
	}
	start := q
	for k %= p.ring.distinct; k > 0; k-- {
		q = p.ring.nextDistinct(start, q)
	}
	return q
}
