// Package random picks an endpoint at random: uniformly when every weight is
// equal, in proportion to weight otherwise. It is the model of kube-proxy's
// data plane, and the baseline every load-aware picker is measured against.
//
// # Algorithm
//
// With equal weights a pick is one random uint64 mapped onto [0, n) by
// Lemire's multiply-shift (the high half of r×n), with no modulo and no
// rejection: the bias is below n/2^64. With unequal weights Build makes a
// Vose alias table (M. D. Vose, "A linear algorithm for generating random
// numbers with a given distribution", 1991) in O(n), and a pick is still one
// random uint64: its high half picks one of n equally likely columns, its
// low half decides between the column's own endpoint and its alias. The
// table is built in exact integer arithmetic, so endpoint i is chosen with
// probability w_i/Σw to within n×2^-64, even for a weight of 4294967295 next
// to a weight of 1.
//
// For example, weights 3, 1 give two columns of probability 1/2: column 0
// belongs wholly to endpoint 0, and column 1 keeps endpoint 1 with
// probability 1/2 and hands the rest to endpoint 0, which is so chosen with
// probability 1/2 + 1/4 = 3/4.
//
// # Compared with other balancers
//
// kube-proxy's iptables mode gives endpoint i of n a rule that matches with
// probability 1/(n-i), so that the first match is uniform over n; its
// nftables mode uses "numgen random mod n". Both are uniform random and
// ignore weights, and this package with equal weights is their model: a
// simulator that routes with it reproduces what a Service does. Envoy's
// RANDOM policy is uniform too and ignores weights (random % n, a modulo
// bias this package avoids). nginx's "random" without "two" is weighted
// random, as here. HAProxy's "balance random" hashes a random number onto
// its consistent-hash tree, so weights hold only to the granularity of the
// tree's points; the alias table is exact.
//
// Random picking ignores load: with n requests in flight on n endpoints the
// busiest holds about ln n / ln ln n of them. Package leastconn samples the
// same way and then compares load (Mitzenmacher's power of two choices),
// which brings that down to ln ln n / ln 2.
//
// # Requests
//
// Pick ignores Request.Hash and Request.Attempt: every pick, retries
// included, is an independent draw, so a retry lands on the same endpoint
// with probability w_i/Σw.
//
// # Concurrency and randomness
//
// A Picker is an immutable snapshot, safe for concurrent use by multiple
// goroutines; Pick never blocks and allocates nothing. Randomness comes from
// Config.Rand, or from math/rand/v2's top-level functions (per-thread and
// lock-free) when it is nil.
package random
