package ringhash

import (
	"slices"

	"github.com/lbkit/lbkit/balancer"
)

// sortEntries sorts entries into ring order (see compareEntries): an LSD
// radix sort on the hash, 8 bits a pass, which is several times faster
// than a comparison sort on rings of 10^5 entries and more, then a
// comparison sort of each run of equal hashes.
func sortEntries(entries []entry, eps []*balancer.Endpoint) {
	if len(entries) < 256 {
		slices.SortFunc(entries, compareEntries(eps))
		return
	}
	tmp := make([]entry, len(entries))
	src, dst := entries, tmp
	for shift := uint(0); shift < 64; shift += 8 {
		var count [256]int
		for _, e := range src {
			count[byte(e.hash>>shift)]++
		}
		if count[byte(src[0].hash>>shift)] == len(src) {
			continue // every key has this digit: the pass would not move anything
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for _, e := range src {
			d := byte(e.hash >> shift)
			dst[count[d]] = e
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &entries[0] {
		copy(entries, src)
	}
	cmpEntries := compareEntries(eps)
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].hash == entries[i].hash {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(entries[i:j], cmpEntries)
		}
		i = j
	}
}
