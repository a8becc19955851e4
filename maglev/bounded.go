package maglev

import (
	"math"
	"math/bits"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// bound is the bounded-load part of a picker (Mirrokni, Thorup and
// Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018).
// It never changes after Build.
type bound struct {
	factor  float64
	weight  []float64 // w_i / W per endpoint, in the picker's (ID) order
	strides []uint32  // probe strides, each coprime with N
}

// maxStrides is how many probe strides a bound keeps; the hash picks one.
const maxStrides = 16

// capSlack shaves a relative 2^-40 off a capacity before rounding it up,
// so that float error can never lift ceil(x) above the exact bound when
// x is an integer. It can only make a capacity stricter, and the capacities
// still sum to more than T, so some endpoint is always below its own.
const capSlack = 1 - 1.0/(1<<40)

func newBound(factor float64, hs hostSet) *bound {
	b := &bound{factor: factor, weight: make([]float64, len(hs.hosts))}
	for i := range hs.hosts {
		b.weight[i] = hs.hosts[i].weight
	}
	b.strides = strides(len(hs.hosts))
	return b
}

// strides returns up to maxStrides distinct values in [1, n) coprime with
// n (just 1 when n <= 2), spread over the range by the golden ratio, so
// different keys probe the endpoints in different orders. It depends only
// on n, so the probe order is a pure function of the endpoint set.
func strides(n int) []uint32 {
	if n <= 2 {
		return []uint32{1}
	}
	out := make([]uint32, 0, maxStrides)
	seen := map[uint32]bool{}
	const phi = 0.6180339887498949
	for k := 1; len(out) < maxStrides && k <= 4*maxStrides; k++ {
		s := uint32(math.Mod(float64(k)*phi, 1) * float64(n))
		for s == 0 || gcd(uint64(s), uint64(n)) != 1 {
			s = (s + 1) % uint32(n)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// walkLimit bounds the table walk of an overflowing pick before it falls
// back to probing every endpoint: a few table slots per endpoint.
func walkLimit(n int) int { return 4*n + 16 }

// boundedPick returns the index of the endpoint that takes a request whose
// (perturbed) hash is h and whose table slot holds endpoint first, under
// bounded loads.
//
// An endpoint holding fewer than its capacity takes the request. When the
// hashed endpoint is full, the request walks the lookup table from its
// slot in steps of a stride drawn from the hash, (slot + j·step) mod M,
// and takes the first endpoint there with room. The walk follows the
// table, not the endpoint list, so when the set changes a key's overflow
// keeps its destination wherever the table kept its slots, which Maglev
// makes most of them; Envoy's shuffle of the host list, seeded by the
// hash, sends every overflowing key somewhere new whenever a host comes or
// goes. A walk that finds no room within walkLimit(N) slots falls back to
// probe, which tries every endpoint.
func (p *picker) boundedPick(first int, h uint64) int {
	b := p.bound
	total, ok := p.eps[0].TotalInFlight()
	if !ok {
		total = 0
		for _, e := range p.eps {
			total += e.InFlight()
		}
	}
	limit := b.factor * float64(max(total, 0)+1) * capSlack
	if p.eps[first].Load() < b.capacity(limit, first) {
		return first
	}
	x := xrand.Mix64(h ^ 0x5bd1e995)
	step := 1 + x%(p.m-1) // M is prime: every step visits every slot
	s := p.mod(h)
	for range min(walkLimit(len(p.eps)), int(p.m)) {
		if s += step; s >= p.m {
			s -= p.m
		}
		var i int
		if p.t32 == nil {
			i = int(p.t16[s])
		} else {
			i = int(p.t32[s])
		}
		if i != first && p.eps[i].Load() < b.capacity(limit, i) {
			return i
		}
	}
	return b.probe(p.eps, first, h, limit)
}

// probe tries every endpoint for a request whose table slot holds endpoint
// first and whose (perturbed) hash is h, given limit = factor × (T+1).
//
// The endpoint holding fewer than its capacity ceil(factor × (T+1) × w_i/W)
// is taken. If first is at its capacity, the others are probed in a
// hash-seeded order: start + j × stride (mod N) for j = 0 .. N-1, an affine
// permutation of the endpoints since stride is coprime with N, with start
// and stride drawn from the hash. The first endpoint below its capacity is
// taken; if none is (which needs concurrent picks or a stale total), the
// least loaded relative to its capacity, earliest probed on a tie.
func (b *bound) probe(eps []*balancer.Endpoint, first int, h uint64, limit float64) int {
	load, capacity := eps[first].Load(), b.capacity(limit, first)
	if load < capacity {
		return first
	}
	best, bestLoad, bestCap := first, load, capacity

	n := uint64(len(eps))
	x := xrand.Mix64(h)
	start, _ := bits.Mul64(x, n)
	stride := uint64(b.strides[(x>>32)%uint64(len(b.strides))])
	k := start
	for range n {
		if i := int(k); i != first {
			load, capacity := eps[i].Load(), b.capacity(limit, i)
			if load < capacity {
				return i
			}
			// load/capacity < bestLoad/bestCap, without a division.
			if load*bestCap < bestLoad*capacity {
				best, bestLoad, bestCap = i, load, capacity
			}
		}
		if k += stride; k >= n {
			k -= n
		}
	}
	return best
}

// capacity returns endpoint i's capacity for limit = factor × (T+1).
func (b *bound) capacity(limit float64, i int) int64 {
	c := math.Ceil(limit * b.weight[i])
	if c < 1 {
		return 1
	}
	if c > math.MaxInt32 {
		return math.MaxInt32
	}
	return int64(c)
}
