package maglev

import (
	"math/bits"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// picker is an immutable Maglev lookup table. Its slots are endpoint
// indices: uint16 when the set has at most 65,536 endpoints (2 bytes a
// slot, 128 KiB at M = 65537 whatever N is), uint32 above that. The two
// widths are two fields rather than a type parameter: a method of a generic
// type called through an interface goes through a dictionary wrapper, which
// measured 2 ns a pick here, and the branch between the fields is free.
//
// A picker is safe for concurrent use by multiple goroutines: nothing in it
// changes after Build, and the bounded-load path only reads the endpoints'
// atomic counters.
type picker struct {
	t16   []uint16             // the table when N <= 65,536; else nil
	t32   []uint32             // the table when N > 65,536; else nil
	eps   []*balancer.Endpoint // sorted by ID; the table indexes it
	m     uint64               // the table size, a prime
	recip uint64               // ⌊(2^64-1) / m⌋, for mod
	src   rand.Source          // for requests without a hash; nil is fine
	bound *bound               // nil unless BalanceFactor is set
}

func newPicker(c Config, hs hostSet, m uint64) *picker {
	p := &picker{eps: hs.eps, m: m, recip: ^uint64(0) / m, src: c.Rand}
	if len(hs.eps) <= 1<<16 {
		p.t16 = buildTable[uint16](&hs, m, fillAuto)
	} else {
		p.t32 = buildTable[uint32](&hs, m, fillAuto)
	}
	if c.BalanceFactor > 0 {
		p.bound = newBound(c.BalanceFactor, hs)
	}
	return p
}

// TableBytes returns the size of the lookup table: 2 bytes a slot up to
// 65,536 endpoints, 4 above.
func (p *picker) TableBytes() int { return 2*len(p.t16) + 4*len(p.t32) + 8*len(p.eps) }

// slot returns the endpoint index in slot h mod M.
func (p *picker) slot(h uint64) int {
	r := p.mod(h)
	if p.t32 == nil {
		return int(p.t16[r])
	}
	return int(p.t32[r])
}

// Pick returns the endpoint in slot hash mod M of the table. A request
// without a hash picks as if its hash were random. A retry (Attempt k > 0)
// first perturbs the hash as Envoy does, hash ^= 2^64 - k, so each attempt
// lands on an independent-looking slot. With a BalanceFactor, an endpoint
// at its bound passes the request on (see the package doc). Pick never
// fails on a built picker and allocates nothing.
func (p *picker) Pick(req balancer.Request) (*balancer.Endpoint, error) {
	if !req.HasHash || p.bound != nil {
		return p.pick(req.Hash, req.HasHash, req.Attempt), nil
	}
	// A hashed request without a bound, inline: the common case.
	h := req.Hash
	if req.Attempt > 0 {
		h ^= -uint64(req.Attempt)
	}
	return p.eps[p.slot(h)], nil
}

// pick is Pick's general case.
func (p *picker) pick(h uint64, hasHash bool, attempt int) *balancer.Endpoint {
	if !hasHash {
		h = xrand.Uint64(p.src)
	}
	if attempt > 0 {
		h ^= -uint64(attempt) // Envoy: hash ^= ~0ULL - attempt + 1
	}
	i := p.slot(h)
	if p.bound != nil {
		i = p.boundedPick(i, h)
	}
	return p.eps[i]
}

// mod returns h mod M without a division. q = ⌊h · ⌊2^64/M⌋ / 2^64⌋ is
// the true quotient or one less (Barrett reduction), so h - q·M - M is in
// [-M, M) and its sign mask adds M back when it went negative: a multiply,
// a multiply-low and three simple operations, against 20 to 90 cycles for a
// 64-bit DIV on amd64. Whether the correction applies varies from hash to
// hash unpredictably, so it must not be a branch (the compiler keeps
// min() as one here).
func (p *picker) mod(h uint64) uint64 {
	q, _ := bits.Mul64(h, p.recip)
	r := h - q*p.m - p.m
	return r + p.m&uint64(int64(r)>>63)
}
