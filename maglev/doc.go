// Package maglev implements Maglev consistent hashing (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
// section 3.4), built exactly as Envoy builds it, so that for the same
// endpoint IDs, weights and request hash lbkit and Envoy pick the same
// endpoint.
//
// # The table
//
// A Picker is a lookup table of M slots (M prime, 65537 by default); a
// request with hash h goes to the endpoint in slot h mod M, an O(1) pick of
// a few nanoseconds. The table gives each endpoint a share of the slots
// proportional to its weight, and when an endpoint joins or leaves, most
// slots keep their endpoint, so most keys keep theirs.
//
// Every endpoint has its own permutation of the slots, from two hashes of
// its ID: offset = XXH64(ID, seed 0) mod M and skip = XXH64(ID, seed 1)
// mod (M-1) + 1; its j-th preferred slot is (offset + j·skip) mod M, a
// permutation because M is prime. The endpoints, sorted by ID so that the
// table is a pure function of the set, take turns: in each round every
// endpoint claims the next slot of its permutation that nobody has taken
// yet, until all M are taken. With weights (Envoy's extension of the
// paper), weights are normalised to sum to 1, and in round t an endpoint of
// weight w claims a slot only if t·w reaches its running target, which grows
// by the largest weight with each claim; so the heaviest endpoint claims in
// every round and one of a third of its weight in every third. The target
// starts at 0, so every endpoint claims in round 1 and owns at least one
// slot, however small its weight (4294967295 next to 1 included). lbkit
// repeats Envoy's floating-point arithmetic operation for operation, and
// the tables match bit for bit: weights 1:2 in 65537 slots give 21,846 and
// 43,691 slots, as Envoy documents.
//
// The build never materialises the N × M permutations (1 GB at N = 1000,
// M = 131071): each endpoint keeps its next slot and walks on by adding
// skip and subtracting M, without a branch; taken slots are a bitmap that
// stays in the L1 cache. With skewed weights a heap of (round, endpoint)
// replaces Envoy's visit of every endpoint in every round and makes the
// same claims in the same order. A table stores endpoint indices, 2 bytes a
// slot up to 65,536 endpoints (128 KiB at M = 65537; Envoy's compact table
// packs bit_width(N) bits) and 4 bytes above. A pick reduces h mod M with a
// precomputed reciprocal instead of a 64-bit division.
//
// # Worked example
//
// Take M = 7 and the IDs "a", "b" and "c", whose hashes give these
// permutations (an example test pins them):
//
//	a: 6 0 1 2 3 4 5   (offset 6, skip 1)
//	b: 4 0 3 6 2 5 1   (offset 4, skip 3)
//	c: 1 3 5 0 2 4 6   (offset 1, skip 2)
//
// Round 1: a takes 6, b takes 4, c takes 1. Round 2: a takes 0; b wants 0,
// taken, and takes 3; c wants 3, taken, and takes 5. Round 3: a wants 1,
// taken, and takes 2, the last free slot. The table is
//
//	slot:  0 1 2 3 4 5 6
//	       a c a b b c a
//
// and a key with h mod 7 = 5 goes to c. If c leaves, the table becomes
// [a a b b b a a]: c's slots 1 and 5 go to a, as they must go somewhere,
// but slot 2 also moves from a to b. Maglev trades such extra moves for its
// even shares and O(1) picks: with Envoy's benchmark keys at M = 65537,
// losing 1 of 500 hosts moves 0.98% of keys against an optimum of 0.2%,
// exactly as in Envoy, and the shares of 100 hosts have a relative standard
// deviation of 0.029 (stats_test.go has the figures).
//
// # Retries and requests without a hash
//
// A retry (Request.Attempt k > 0) first perturbs the hash as Envoy does,
// h ^= 2^64 - k, so each attempt lands on an unrelated slot (and usually a
// different endpoint); attempt k picks the same endpoint in lbkit and in
// Envoy. A request without a hash picks as if its hash were random, drawn
// from Config.Rand.
//
// # Bounded loads
//
// Consistent hashing sends every request for a hot key to one endpoint.
// With Config.BalanceFactor c (Mirrokni, Thorup and Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018), an endpoint of weight
// w_i out of W takes a request only while it holds fewer than
// ceil(c × (T+1) × w_i / W) requests, T being the requests in flight across
// the set, so no endpoint ever holds more than that, even when every
// request carries the same key. A balancer.Balancer keeps T in O(1) for
// such a Config (it implements balancer.TotalInFlightTracker); a bare
// Picker sums the endpoints' counts.
//
// When the hashed endpoint is full, the others are probed in an order
// seeded by the hash: start + j × stride (mod N), an affine permutation of
// the endpoints, with start and one of up to 16 strides coprime with N drawn
// from the mixed hash. The first endpoint below its bound takes the
// request. Envoy instead draws a Fisher-Yates shuffle of all N endpoints
// from a Mersenne Twister seeded with the hash, which allocates an N-entry
// vector per overflowing pick; both give each key its own fixed probe order,
// so one hot key's overflow spreads instead of cascading onto a neighbour,
// and both probe at most N endpoints. lbkit's order allocates nothing and
// costs O(1) a probe. Envoy's bound also differs slightly: it admits an
// endpoint while it holds at most its capacity (so it may end one above),
// computes the capacity as ceil(ceil(c × (T+1)) × w_i / W), and takes c in
// percent. If no endpoint is below its bound, which only concurrent picks or
// a stale total can cause, the least loaded relative to its bound is taken.
//
// # Concurrency
//
// Config.Build may run concurrently with picks on earlier Pickers. A Picker
// is immutable and safe for concurrent use by multiple goroutines; Pick
// never blocks and allocates nothing. Under concurrent picks the bound is
// checked against counts that other picks are changing, so it holds up to
// the number of picks in progress.
package maglev
