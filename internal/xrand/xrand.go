// Package xrand draws the random numbers pickers need from an optional
// math/rand/v2 Source, falling back to math/rand/v2's top-level functions
// (per-thread, lock-free) when the Source is nil.
package xrand

import (
	"math/bits"
	"math/rand/v2"
)

// Uint64 returns a uniformly random uint64 from src, or from math/rand/v2's
// top-level generator when src is nil.
func Uint64(src rand.Source) uint64 {
	if src == nil {
		return rand.Uint64()
	}
	return src.Uint64()
}

// N returns a uniformly random number in [0, n) from src (Lemire's
// multiply-shift; the bias is below n/2^64). n must be positive.
func N(src rand.Source, n uint64) uint64 {
	hi, _ := bits.Mul64(Uint64(src), n)
	return hi
}

// Mix64 is SplitMix64's finaliser (Steele, Lea and Flood, 2014): a
// bijection of uint64 that scrambles every bit. Hash pickers and the
// simulator derive independent draws from one hash with it; what they
// derive is a wire format, so its constants never change.
func Mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
