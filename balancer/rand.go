package balancer

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/lbkit/lbkit/internal/xrand"
)

// NewSource returns a seeded random source that is safe for concurrent use
// by multiple goroutines without a lock: SplitMix64 (Steele, Lea and Flood,
// 2014) over an atomic counter. Picks made one after another from the same
// seed draw the same numbers on every run, which is what a simulator or a
// test needs; picks made concurrently share one counter, so prefer the nil
// default (math/rand/v2's per-thread generator) in a busy proxy.
func NewSource(seed uint64) rand.Source {
	s := &splitMix{}
	s.state.Store(seed)
	return s
}

type splitMix struct{ state atomic.Uint64 }

func (s *splitMix) Uint64() uint64 {
	return xrand.Mix64(s.state.Add(0x9e3779b97f4a7c15))
}
