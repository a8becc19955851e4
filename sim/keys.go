package sim

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// keySampler draws request keys, uniform or Zipf over a key space, and
// hashes them the way Envoy's benchmark does: XXH64 of the key's index as
// 8 little-endian bytes.
type keySampler struct {
	count int
	r     *rand.Rand
	zipf  *rand.Zipf
}

func newKeySampler(k Keys, r *rand.Rand) keySampler {
	s := keySampler{count: k.Count, r: r}
	if strings.EqualFold(k.Distribution, "zipf") {
		s.zipf = rand.NewZipf(r, k.Exponent, 1, uint64(k.Count-1))
	}
	return s
}

// hash draws a key and returns its hash.
func (s *keySampler) hash() uint64 {
	var k uint64
	if s.zipf != nil {
		k = s.zipf.Uint64()
	} else {
		k = uint64(s.r.IntN(s.count))
	}
	return s.hashOf(k)
}

func (s *keySampler) hashOf(k uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], k)
	return xxhash.Sum64(b[:])
}
