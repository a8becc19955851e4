package ringhash

import (
	"cmp"
	"strconv"

	"github.com/cespare/xxhash/v2"
	"github.com/lbkit/lbkit/balancer"
)

// ring is the sorted ring in parallel arrays: entry i sits at hashes[i] and
// belongs to endpoint owners[i]. It never changes once built.
type ring struct {
	hashes []uint64
	owners []uint32
	// prev[i] is the entry before i, cyclically, that has the same owner
	// (i itself when the owner has one entry). A walk that starts at entry p
	// meets owners[q] for the first time at q exactly when prev[q] lies
	// outside [p, q): that finds distinct endpoints without a visited set.
	prev []uint32
	// distinct is the number of endpoints with at least one entry.
	distinct int
}

// entry is one ring entry while the ring is sorted.
type entry struct {
	hash    uint64
	owner   uint32
	replica uint32
}

// entryHash returns the ring position of replica i of the endpoint id:
// XXH64 (seed 0) of id + "_" + decimal(i), with buf as scratch space.
//
// This string is a wire format, shared by every layout: it is what Envoy
// and grpc-go hash (with the endpoint's address as id), and it places the
// native layout's entries identically on every proxy and every release.
// Changing it moves every key. Golden tests pin it.
func entryHash(buf []byte, id string, i uint32) (uint64, []byte) {
	buf = append(buf[:0], id...)
	buf = append(buf, '_')
	buf = strconv.AppendUint(buf, uint64(i), 10)
	return xxhash.Sum64(buf), buf
}

// compareEntries orders ring entries by hash; equal hashes (which XXH64
// makes vanishingly rare) by endpoint ID and then replica, so that the
// ring does not depend on the order of eps. Envoy and grpc-go sort with an
// unstable sort and leave equal hashes in no defined order; this order is
// one of theirs.
func compareEntries(eps []*balancer.Endpoint) func(a, b entry) int {
	return func(a, b entry) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		if a.owner != b.owner {
			return cmp.Compare(eps[a.owner].ID, eps[b.owner].ID)
		}
		return cmp.Compare(a.replica, b.replica)
	}
}

// buildRing hashes counts[i] replicas of every endpoint eps[i] and sorts
// them into a ring.
func buildRing(eps []*balancer.Endpoint, counts []uint32) *ring {
	var size int
	for _, c := range counts {
		size += int(c)
	}
	entries := make([]entry, 0, size)
	var buf []byte
	for i, e := range eps {
		for j := range counts[i] {
			var h uint64
			h, buf = entryHash(buf, e.ID, j)
			entries = append(entries, entry{hash: h, owner: uint32(i), replica: j})
		}
	}
	sortEntries(entries, eps)
	return newRing(entries, len(eps))
}

// newRing lays sorted entries out in parallel arrays of n endpoints and
// links each entry to the previous one of its owner.
func newRing(entries []entry, n int) *ring {
	r := &ring{
		hashes: make([]uint64, len(entries)),
		owners: make([]uint32, len(entries)),
		prev:   make([]uint32, len(entries)),
	}
	const none = ^uint32(0)
	last := make([]uint32, n)
	for i := range last {
		last[i] = none
	}
	for i, e := range entries {
		r.hashes[i] = e.hash
		r.owners[i] = e.owner
		r.prev[i] = last[e.owner]
		last[e.owner] = uint32(i)
	}
	// An owner's first entry links back to its last one, across the wrap.
	for i, o := range r.owners {
		if r.prev[i] == none {
			r.prev[i] = last[o]
			r.distinct++
		}
	}
	return r
}

// firstVisit reports whether a walk from entry p meets the owner of entry
// q (reached after p, cyclically) for the first time at q.
func (r *ring) firstVisit(p, q int) bool {
	n := len(r.hashes)
	dq := q - p
	if dq < 0 {
		dq += n
	}
	dp := int(r.prev[q]) - p
	if dp < 0 {
		dp += n
	}
	return dp >= dq
}

// next returns the entry after q, cyclically.
func (r *ring) next(q int) int {
	if q++; q == len(r.hashes) {
		return 0
	}
	return q
}

// nextDistinct returns the first entry after q, cyclically, whose owner a
// walk from p has not met yet. There must be one.
func (r *ring) nextDistinct(p, q int) int {
	for {
		if q = r.next(q); r.firstVisit(p, q) {
			return q
		}
	}
}
