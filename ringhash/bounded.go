package ringhash

import (
	"math"

	"github.com/lbkit/lbkit/balancer"
)

// shares returns factor × w_i / W for every endpoint.
func shares(eps []*balancer.Endpoint, factor float64) []float64 {
	var sum uint64
	for _, e := range eps {
		sum += weight(e)
	}
	s := make([]float64, len(eps))
	for i, e := range eps {
		s[i] = factor * float64(weight(e)) / float64(sum)
	}
	return s
}

// capRelTol shaves float64 rounding off a capacity, so that an exact
// integer such as 1.1 × 30 / 3 = 11 does not round up to 12. It only ever
// makes a capacity smaller than the exact bound, never larger.
const capRelTol = 1e-12

// capacity returns how many requests endpoint i may hold when total are in
// flight before this pick: ceil(factor × (total+1) × w_i / W), at least 1.
func (p *picker) capacity(i uint32, total int64) int64 {
	x := p.share[i] * float64(total+1)
	return max(int64(math.Ceil(x-x*capRelTol)), 1)
}

// totalInFlight returns the requests in flight across the set: O(1) from a
// Balancer that keeps the total, else the sum over the endpoints.
func (p *picker) totalInFlight() int64 {
	if t, ok := p.eps[0].TotalInFlight(); ok {
		return max(t, 0)
	}
	var t int64
	for _, e := range p.eps {
		t += max(e.InFlight(), 0)
	}
	return t
}

// bounded implements consistent hashing with bounded loads (Mirrokni,
// Thorup and Zadimoghaddam, 2018): the request goes to the owner of entry q
// if that endpoint has room, that is fewer requests in flight than its
// capacity; otherwise to the first endpoint with room met walking the ring
// on from q, each distinct endpoint checked once; and if none has room
// (only possible when the counts race or include requests not begun
// through the set), to the one whose in-flight count is the smallest
// fraction of its capacity, the first such along the walk.
//
// The walk is deterministic, so a hot key overflows to the same endpoints
// on every proxy, and it is O(entries walked): a few entries while most
// endpoints have room.
func (p *picker) bounded(q int) int {
	// An endpoint below its capacity at zero in flight has room whatever
	// the total, so the common case never reads the total: that matters
	// when the total is an O(n) sum.
	if o := p.ring.owners[q]; p.eps[o].Load() < p.capacity(o, 0) {
		return q
	}
	total := p.totalInFlight()
	best, bestLoad := q, math.Inf(1)
	start := q
	for seen := 0; ; {
		o := p.ring.owners[q]
		active, limit := p.eps[o].Load(), p.capacity(o, total)
		if active < limit {
			return q
		}
		if load := float64(active) / float64(limit); load < bestLoad {
			best, bestLoad = q, load
		}
		if seen++; seen >= p.ring.distinct {
			return best
		}
		q = p.ring.nextDistinct(start, q)
	}
}
