package bench

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

var (
	floorCounter atomic.Uint64
	floorSink    uint64
)

// BenchmarkFloor measures what every pick is built from on this machine,
// so the pickers' figures can be read against them: one atomic add (what
// a shared round-robin cursor and each in-flight count cost), the two
// adds of Balancer.Pick and Result.Done, and one draw from math/rand/v2's
// per-thread generator (what a random or power-of-d pick costs at least).
func BenchmarkFloor(b *testing.B) {
	b.Run("op=atomic-add", func(b *testing.B) {
		for b.Loop() {
			floorCounter.Add(1)
		}
	})
	b.Run("op=atomic-add-pair", func(b *testing.B) {
		for b.Loop() {
			floorCounter.Add(1)
			floorCounter.Add(^uint64(0))
		}
	})
	b.Run("op=rand-uint64", func(b *testing.B) {
		for b.Loop() {
			floorSink += rand.Uint64()
		}
	})
}

// BenchmarkFloorParallel is the shared atomic counter from every core at
// once: the cost that a single round-robin cursor pays under contention.
func BenchmarkFloorParallel(b *testing.B) {
	b.Run("op=atomic-add", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				floorCounter.Add(1)
			}
		})
	})
}
