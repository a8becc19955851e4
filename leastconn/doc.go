// Package leastconn sends each request to a lightly loaded endpoint: the
// least loaded of a few sampled at random (the power of d choices), or of
// all of them, where load is requests in flight per unit of weight, or
// Linkerd's and Finagle's peak-EWMA latency cost.
//
// # Power of d choices
//
// A pick samples d distinct endpoints (Config.Choices, 2 by default) and
// takes the least loaded. Mitzenmacher ("The Power of Two Choices in
// Randomized Load Balancing", 2001; Azar, Broder, Karlin and Upfal 1999)
// showed that this one extra sample shrinks the gap between the busiest of
// n endpoints and the mean: with n requests on n endpoints, from about
// ln n / ln ln n for a uniformly random pick down to ln ln n / ln d + O(1);
// and Berenbrink, Czumaj, Steger and Vöcking (2000) showed that with d ≥ 2
// the gap stays there however many requests are in flight, while random
// picking's grows like √(2(m/n) ln n) for m requests. With n = 100
// endpoints and m = 10,000 requests in flight (mean 100), random picking
// leaves the busiest about 30 above the mean; two choices leave it 1 or 2
// above (see TestSpread). Each pick costs one random number and two atomic loads, and
// needs no shared state besides the endpoints' counters.
//
// Sampling is without replacement: i = N(n), then j = N(n-1), bumped past
// i. Envoy samples with replacement, so with two endpoints half of its
// picks compare an endpoint with itself and may go to the busier one; here
// the less loaded of two endpoints is always chosen. For d > 2 the k-th
// candidate is the N(n-k)-th endpoint not yet drawn, which needs no
// rejection and no allocation (a fixed array on the stack). When d ≥ n the
// pick scans every endpoint.
//
// # Weights
//
// The load of an endpoint is its requests in flight divided by its weight,
// compared without division (a.inFlight×b.weight < b.inFlight×a.weight, in
// 64-bit integers). For example, endpoint A of weight 1 with 2 requests in
// flight and endpoint B of weight 3 with 5: 2×3 = 6 > 5×1 = 5, so B, at 5/3
// a unit of weight, is less loaded than A at 2, and gets the request.
// Following nginx's "random two least_conn", the first
// candidate is drawn in proportion to weight by Vose's alias method (M. D.
// Vose, 1991) in O(1), and ties go to it, so at zero load picks are exactly
// proportional to weight, and under load in flight per unit of weight
// evens out. The other candidates are drawn by weight too, distinct from
// those before: a draw that lands on an endpoint already drawn is retried
// up to 8 times, then replaced by a uniform choice among the rest, so a
// weight of 4294967295 next to a weight of 1 never spins. When every weight
// is equal the pick samples uniformly, without the table.
//
// # Full scan
//
// With Config.FullScan a pick looks at every endpoint, O(n), and takes an
// exact minimum of in flight per unit of weight; among several at that
// minimum it picks one at random in proportion to weight (weighted
// reservoir sampling), so at zero load it too picks by weight.
//
// # Peak EWMA
//
// With Config.PeakEWMA the load of an endpoint is Linkerd's and Finagle's
// cost: its peak-EWMA latency times (requests in flight + 1), per unit of
// weight. The latency estimate, kept by the Endpoint from the latencies
// reported to Result.Done, jumps at once to any slower sample and decays
// towards faster ones, and towards zero while no sample arrives, with the
// time constant Config.Decay (10 s). An endpoint with no sample costs
// Config.DefaultLatency (30 ms, Linkerd's default RTT). So an endpoint that
// turns slow is avoided at once, and is tried again once its estimate has
// decayed below the others'. Each pick reads the clock once (Request.Now,
// or time.Now() when that is zero); the other modes never read it. Peak
// EWMA works with sampling, as in Linkerd and Finagle's p2cPeakEwma, and
// with FullScan.
//
// Dividing the cost by weight makes it an expected delay, as in IPVS's
// "sed" scheduler: at equal latency and zero load the heavier candidate
// wins, so PeakEWMA picks do not follow the weights at zero load as the
// other modes' do; they favour the heavier endpoints until their requests
// in flight make up the difference.
//
// # Compared with other balancers
//
// Envoy's least request samples with replacement and, with unequal
// weights, switches to an EDF schedule over weight/(active+1)^bias, which
// samples nothing; here weighted picks stay random and compare in flight
// per unit of weight, as nginx's "random two least_conn" does. HAProxy's
// "random(2)" also draws by weight and compares requests per weight, but
// with replacement; its "leastconn" keeps servers in a tree ordered by
// connections per weight, where FullScan here trades O(n) picks for no
// shared ordering to maintain. IPVS's "twos" is weighted two random
// choices. gRPC's least_request caps choices at 10, as here. Linkerd
// balances by peak EWMA with two choices; so does this package with
// PeakEWMA set.
//
// # Requests, concurrency and randomness
//
// Pick ignores Request.Hash and Request.Attempt: a retry is a fresh pick,
// which the request still in flight on the first endpoint steers away from
// it. A Picker is an immutable snapshot, safe for concurrent use by
// multiple goroutines; Pick never blocks and allocates nothing. Load lives
// in the shared *balancer.Endpoint, so pick through a balancer.Balancer (or
// call Endpoint.Begin and Result.Done) for in flight to be counted.
// Randomness comes from Config.Rand, or from math/rand/v2's top-level
// functions (per-thread and lock-free) when it is nil; a pick draws once
// from it and derives any further numbers locally.
package leastconn
