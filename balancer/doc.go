// Package balancer is the vocabulary every lbkit algorithm speaks: the
// backends discovery reports, the live endpoints pickers choose from, the
// immutable Picker snapshots that algorithms build, and the Balancer that
// publishes a new snapshot atomically whenever the backend set changes.
//
// The data flow is:
//
//	discovery ([]Backend)
//	   │
//	Balancer.Update ── diff by ID; an ID that stays keeps its *Endpoint's
//	   │               load counters, even when its weight or address change
//	Builder.Build   ── a new immutable Picker, built off the pick path
//	   │  atomic.Pointer swap: picks never wait
//	Balancer.Pick   ── Result{Endpoint}; the request is counted in flight
//	Result.Done     ── in flight down, latency into the peak EWMA, outcome counted
//
// Every algorithm lives in a package of its own (roundrobin, random,
// leastconn, ringhash, maglev) whose Config type is a Builder.
//
// # Concurrency
//
// A Balancer is safe for concurrent use by multiple goroutines: Pick never
// blocks and never allocates, and Update may run beside any number of Picks.
// Updates are serialised among themselves.
//
// # Time and randomness
//
// Nothing here reads the clock unless the caller leaves a time zero:
// [Request.Now] and [DoneInfo.Now] carry the time, so a simulator can drive
// the real code on a virtual clock. Randomness comes from a math/rand/v2
// Source the caller may supply ([NewSource] makes a seeded, lock-free one);
// nil means math/rand/v2's top-level functions, which are per-thread and
// lock-free.
package balancer
