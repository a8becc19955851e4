package maglev

import (
	"cmp"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/lbkit/lbkit/balancer"
)

// host is one endpoint's state while the table is filled. Its permutation
// of the slots is offset, offset+skip, offset+2·skip, ... (mod M); pos is the
// next slot of it to try, so the N × M permutation matrix is never built.
type host struct {
	pos    uint32  // next slot of the permutation to try
	skip   uint32  // in [1, M)
	weight float64 // w_i / W, as Envoy normalises it
	target float64 // Envoy's target_weight_: the claims so far × max weight
}

// hostSet is an endpoint set in table order: sorted by ID.
type hostSet struct {
	eps   []*balancer.Endpoint
	hosts []host
	maxW  float64 // the largest normalised weight
}

// sortedHosts sorts eps by ID and computes each one's permutation and
// normalised weight.
//
// Wire format: the table layout depends on exactly these choices, shared
// with Envoy's Maglev (source/extensions/load_balancing_policies/maglev),
// and golden tests pin it. The hashed string is Backend.ID, byte for byte,
// with no prefix or suffix; offset = XXH64(ID, seed 0) mod M and
// skip = XXH64(ID, seed 1) mod (M-1) + 1; endpoints are ordered by ID as
// byte strings; the normalised weight of endpoint i is
// float64(w_i) / float64(Σ w), a weight of 0 counting as 1. Changing any
// of these changes which endpoint every key maps to.
func sortedHosts(in []*balancer.Endpoint, m uint64) hostSet {
	eps := slices.Clone(in)
	slices.SortFunc(eps, func(a, b *balancer.Endpoint) int { return cmp.Compare(a.ID, b.ID) })

	var sum uint64
	for _, e := range eps {
		sum += uint64(weightOf(e))
	}
	hs := hostSet{eps: eps, hosts: make([]host, len(eps))}
	d := xxhash.New()
	for i, e := range eps {
		offset := xxhash.Sum64String(e.ID) % m
		d.ResetWithSeed(1)
		_, _ = d.WriteString(e.ID)
		skip := d.Sum64()%(m-1) + 1
		if m == 2 {
			skip = 1 // M-1 = 1: every skip is 1 (Envoy's formula agrees)
		}
		w := float64(weightOf(e)) / float64(sum)
		hs.hosts[i] = host{pos: uint32(offset), skip: uint32(skip), weight: w}
		hs.maxW = max(hs.maxW, w)
	}
	return hs
}

// weightOf returns e's weight, 0 counting as 1 (Endpoints made by the
// balancer package never have 0, but the field is exported).
func weightOf(e *balancer.Endpoint) uint32 { return max(e.Weight, 1) }

// equalWeights reports whether every host has the same normalised weight.
func (hs *hostSet) equalWeights() bool {
	for i := range hs.hosts {
		if hs.hosts[i].weight != hs.maxW {
			return false
		}
	}
	return true
}

// filler writes a table of M slots, each the index of a host.
type filler[T uint16 | uint32] struct {
	table []T
	used  []uint64 // a bit per slot: taken
	m     uint32
}

// claim walks h's permutation to its next free slot and gives it to host i.
// The walk adds skip and subtracts M instead of taking a remainder per
// step, without a branch (which steps wrap is unpredictable), and follows
// the even and the odd steps as two independent chains, so the processor
// overlaps them.
func (f *filler[T]) claim(h *host, i int) {
	used, m := f.used, f.m
	c, skip := h.pos, h.skip
	if used[c>>6]&(1<<(c&63)) != 0 {
		skip2 := wrapAdd(skip, skip, m)
		odd := wrapAdd(c, skip, m)
		for {
			if used[odd>>6]&(1<<(odd&63)) == 0 {
				c = odd
				break
			}
			c = wrapAdd(c, skip2, m)
			odd = wrapAdd(odd, skip2, m)
			if used[c>>6]&(1<<(c&63)) == 0 {
				break
			}
		}
	}
	used[c>>6] |= 1 << (c & 63)
	f.table[c] = T(i)
	h.pos = wrapAdd(c, skip, m)
}

// wrapAdd returns (c + skip) mod m for c, skip < m <= MaxTableSize < 2^31,
// without a branch: d = c + skip - m is negative as an int32 exactly when
// the sum did not wrap, and then its sign mask adds m back.
func wrapAdd(c, skip, m uint32) uint32 {
	d := c + skip - m
	return d + m&uint32(int32(d)>>31)
}

// fillStrategy selects how buildTable visits the hosts. All three give the same
// table; tests check that.
type fillStrategy int

const (
	fillAuto      fillStrategy = iota
	fillRounds                 // Envoy's loop: every host, every round
	fillScheduled              // a heap of (next eligible round, host)
)

// buildTable fills a table of M slots for hs, as Envoy's Maglev does: for
// iteration = 1, 2, ... visit the hosts in ID order; host i takes its next
// free slot in iteration t unless t·w_i < target_i, and then target_i grows
// by the largest weight. The build stops as soon as every slot is taken.
//
// Target_i starts at 0, so every host takes a slot in iteration 1: each one
// owns at least one slot whatever the weights, since M >= N.
func buildTable[T uint16 | uint32](hs *hostSet, m uint64, how fillStrategy) []T {
	f := filler[T]{table: make([]T, m), used: make([]uint64, (m+63)/64), m: uint32(m)}
	if how == fillAuto {
		switch {
		case hs.equalWeights():
			f.fillEqual(hs)
			return f.table
		// Envoy's loop costs about N × maxW work a slot (the hosts it
		// visits and skips); a heap costs about log2 N.
		case hs.maxW*float64(len(hs.hosts)) <= 8:
			how = fillRounds
		default:
			how = fillScheduled
		}
	}
	if how == fillRounds {
		f.fillRounds(hs)
	} else {
		f.fillScheduled(hs)
	}
	return f.table
}

// fillEqual is Envoy's loop when every weight is the same: every host is
// eligible in every iteration, so the weight test is skipped.
func (f *filler[T]) fillEqual(hs *hostSet) {
	left := f.m
	for {
		for i := range hs.hosts {
			f.claim(&hs.hosts[i], i)
			if left--; left == 0 {
				return
			}
		}
	}
}

// eligible is Envoy's weight test for iteration t. The explicit float64
// conversion rounds the product before the comparison, as C++ does, and
// keeps the compiler from fusing operations on any architecture.
func (h *host) eligible(t uint64) bool {
	return float64(float64(t)*h.weight) >= h.target
}

// fillRounds is Envoy's loop verbatim.
func (f *filler[T]) fillRounds(hs *hostSet) {
	left := f.m
	for t := uint64(1); ; t++ {
		for i := range hs.hosts {
			h := &hs.hosts[i]
			if !h.eligible(t) {
				continue
			}
			h.target += hs.maxW
			f.claim(h, i)
			if left--; left == 0 {
				return
			}
		}
	}
}

// fillScheduled runs Envoy's loop without visiting hosts that are not
// eligible: a min-heap orders (iteration, host) pairs, which is exactly the
// order in which Envoy's loop makes its claims. It keeps heavily skewed
// weights (4294967295 next to 1) fast, where Envoy's loop visits every host
// in each of up to M iterations.
func (f *filler[T]) fillScheduled(hs *hostSet) {
	// Every iteration gives the heaviest host a slot, so the table is full
	// by iteration M: later iterations need not be scheduled.
	last := uint64(f.m) + 1
	q := make(schedule, len(hs.hosts))
	for i := range q {
		q[i] = 1<<32 | uint64(i) // every host is eligible in iteration 1
	}
	left := f.m
	for {
		t, i := q[0]>>32, int(uint32(q[0]))
		h := &hs.hosts[i]
		h.target += hs.maxW
		f.claim(h, i)
		if left--; left == 0 {
			return
		}
		if next := h.nextIteration(t); next <= last {
			q[0] = next<<32 | uint64(i)
		} else {
			q[0] = q[len(q)-1]
			q = q[:len(q)-1]
		}
		q.down()
	}
}

// nextIteration returns the first iteration after t in which h passes the
// weight test, found exactly (the test is monotonic in the iteration, as
// rounding is monotonic): a float estimate, then corrected step by step.
// It returns math.MaxUint32 when that is beyond any table size.
func (h *host) nextIteration(t uint64) uint64 {
	est := math.Ceil(h.target / h.weight)
	if !(est < MaxTableSize+2) { // also catches NaN and +Inf
		return math.MaxUint32
	}
	next := max(uint64(est), t+1)
	for next > t+1 && h.eligible(next-1) {
		next--
	}
	for !h.eligible(next) {
		next++
	}
	return next
}

// schedule is a binary min-heap of iteration<<32 | host index: the
// earliest iteration first, and within one, hosts in ID order.
type schedule []uint64

// down restores the heap order after the root changed.
func (q schedule) down() {
	n := len(q)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && q[r] < q[l] {
			j = r
		}
		if q[i] <= q[j] {
			return
		}
		q[i], q[j] = q[j], q[i]
		i = j
	}
}
