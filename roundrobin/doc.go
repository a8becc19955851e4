// Package roundrobin is round robin that turns itself into a smooth,
// exact weighted round robin when the endpoints' weights differ, and whose
// cursor spreads itself over shards when concurrent picks collide.
//
// [Config] is the balancer.Builder; its zero value is ready to use:
//
//	bal := balancer.New(roundrobin.Config{})
//
// Picks ignore the Request: its Hash means nothing to round robin, and a
// retry (Request.Attempt > 0) needs no special handling because the next
// pick moves on to the next endpoint anyway.
//
// # Equal weights
//
// With equal weights the picker walks the endpoints in the order given,
// starting at a random offset drawn from Config.Rand, so that proxies
// started together do not all send their first requests to endpoint 0
// (gRPC saw 3-4x load on some pods during deploys when every client
// started at 0; Envoy and grpc-go start at random for the same reason).
// From a single goroutine, k·n picks give each of n endpoints exactly k.
//
// # Unequal weights
//
// When the weights (Backend.Weight, at least 1) differ, they are divided
// by their greatest common divisor (100:50 behaves as 2:1, a cycle of 3)
// and Build precomputes one cycle of the weighted schedule as a table of
// endpoint indices, W entries for reduced weights summing to W. A pick
// reads the next table entry, so picking costs the same as plain round
// robin whatever the number of endpoints or the spread of the weights. The
// cycle is:
//
//   - Exact: over each cycle every endpoint gets exactly its weight's number
//     of picks, and so exactly its share over any number of whole cycles.
//   - Smooth: no endpoint gets more picks in a row than any cycle must give
//     it, ceil(w/(W-w)) for an endpoint of weight w, counting across the
//     end of the cycle. With 5:1:1 the heavy endpoint never gets more than
//     3 in a row; every endpoint that does not outweigh all the others
//     together never gets two in a row. Beyond runs, any m consecutive picks
//     give an endpoint within 3 of its share m·w/W (the tests measure the
//     worst case below 2.5).
//
// The construction: let h be the heaviest endpoint and R the weight of the
// others. The cycle is w_h rounds, each one pick of h followed by picks of
// other endpoints, never the same endpoint twice in a round. When R <= w_h
// the others' own cycle, built recursively, is spread at most one pick a
// round on a Sturmian (floor) pattern, so h's runs are floor(w_h/R) or
// ceil(w_h/R) long. When R > w_h each other endpoint i takes w_i distinct
// rounds evenly spaced w_h/w_i apart, at phases staggered by the weight
// before it, ordered within a round by deadline; a least-cost
// circular transport then evens out the rounds' sizes, and a round left
// empty borrows one pick from the nearest round holding two, so h never
// runs. Building takes O(W log W) time at worst and O(W) memory.
//
// The alternatives each miss something. nginx's smooth weighted round
// robin is exact and smooth within a cycle, but not across its end (5:1:1
// gives a a b a c a a: the heavy endpoint gets 4 in a row at the wrap), and
// it costs O(n) a pick (plus a lock when workers share it). Envoy's EDF
// scheduler costs O(log n) a pick on a heap and over-picks heavy hosts at
// first unless it emulates earlier picks. gRPC's static
// stride scheduler is lock-free but rejects candidates, so a pick costs
// O(max weight / mean weight) tries, and scales weights to 16 bits. The
// table here is lock-free, O(1) a pick, exact and optimally smooth.
//
// The table has at most Config.MaxTableSize entries (by default
// max(64·n, 65536), and never fewer than 2·n). When the reduced weights add
// up to more, each weight w is scaled to max(1, floor(w·(cap-n)/W)) and
// reduced again; shares are then exact only to that rounding: an endpoint
// of true share s gets a share of the cycle within (1+n·s)/(cap-2n) of s,
// and at least one entry. Weights of 4294967295 and 1 build a 65,534-entry
// table in well under a millisecond.
//
// # Scaling across cores
//
// A single shared counter caps throughput: its cache line bounces between
// cores on every pick. The cursor therefore starts as one bounded counter,
// advanced with a CompareAndSwap from p to p+1 that wraps to 0 at the end
// of the cycle (no division on the pick path), which gives a single
// goroutine — a simulator, a test — the exact cycle. The first time a
// CompareAndSwap fails, which takes two goroutines picking at once, the
// Picker switches for good to sharded mode: K cursors, each on 128 bytes
// of its own, K the power of two at least 4·GOMAXPROCS (at Build), at most
// 64. A pick chooses a shard with math/rand/v2's top-level generator
// (per-thread, lock-free), advances it with one atomic add and reduces the
// count modulo the cycle length with two multiplications. Each shard is an
// independent walk of the same cycle from its own phase, the phases spread
// evenly around the cycle.
//
// What sharding buys depends on the machine. A shard chosen at random was
// last written by another core with probability (P-1)/P whatever K is, so
// on two cores about half the picks still move a cache line, and the draw
// itself costs about as much as the atomic add. Sharded mode removes the
// collisions and retries of a shared counter and keeps per-pick cost flat
// as cores are added, but it does not give two cores twice the throughput
// of one: that needs a goroutine to keep to its own shard, which nothing in
// the portable standard library offers without a lock.
//
// Evenness bound in sharded mode: every walk (the first cursor's and each
// shard's) has covered whole cycles plus one run of consecutive table
// entries, so after N picks in all an endpoint's count differs from its
// exact share N·w/W by less than K+1 times the window bound above (less
// than 1 with equal weights, 3 otherwise). With equal weights the most and
// least picked endpoints differ by at most K+1 picks. A shard's count wraps
// after 2^32 of its picks, where its walk skips ahead once, adding at most
// one more window per wrap.
//
// Picks never block and never allocate. A Picker is safe for concurrent
// use by multiple goroutines.
package roundrobin
