package ringhash

import "math/bits"

// maxIndexBits caps the index at 2^22 buckets (16 MB), a quarter to half
// of a bucket per entry of the largest rings.
const maxIndexBits = 22

// index finds the first ring entry at or after a hash in O(1) expected
// time: the hash's top bits pick a bucket, the bucket holds the first entry
// whose top bits are at least the bucket's, and a short linear scan does
// the rest. With at least as many buckets as entries, a scan reads one
// entry on average and O(log n / log log n) at worst, against log2(n) cache
// misses for a binary search over the whole ring.
type index struct {
	// start[b] is the first entry whose hash >> shift is >= b; it has one
	// more element than there are buckets, the last being the ring size.
	start []uint32
	shift uint
}

// newIndex indexes the sorted hashes with the smallest power of two of
// buckets that is at least the ring size (capped at 2^maxIndexBits).
func newIndex(hashes []uint64) index {
	b := min(max(bits.Len(uint(len(hashes)-1)), 1), maxIndexBits)
	x := index{start: make([]uint32, 1<<b+1), shift: uint(64 - b)}
	i := 0
	for bucket := range x.start {
		for i < len(hashes) && hashes[i]>>x.shift < uint64(bucket) {
			i++
		}
		x.start[bucket] = uint32(i)
	}
	return x
}

// search returns the first entry whose hash is >= h, wrapping to entry 0
// past the last: the ketama rule of Envoy and grpc-go.
func (x *index) search(hashes []uint64, h uint64) int {
	i, end := int(x.start[h>>x.shift]), int(x.start[h>>x.shift+1])
	for i < end && hashes[i] < h {
		i++
	}
	if i == len(hashes) {
		i = 0
	}
	return i
}
