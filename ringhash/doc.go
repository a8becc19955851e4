// Package ringhash is consistent hashing on a ketama ring (Karger et al.,
// "Consistent Hashing and Random Trees", STOC 1997), with three layouts of
// the ring, an O(1) lookup index, retries to distinct endpoints, and
// consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018).
//
// # The ring
//
// Every endpoint puts a number of entries on a ring of 2^64 positions:
// entry i of the endpoint whose ID is id sits at XXH64(id + "_" + i), i in
// decimal. A request with hash h goes to the owner of the first entry at or
// after h, wrapping past the last entry to the first. When an endpoint
// leaves, only the keys that fell on its entries move, each to the next
// entry along the ring; when one joins, it takes over the arcs in front of
// its entries. More entries per endpoint even out the arcs: the load of an
// endpoint varies by about 1/sqrt(entries) of the mean.
//
// # Layouts
//
// Config.Compat chooses how many entries each endpoint gets.
//
// Native (the zero value) gives an endpoint of the set's smallest weight
// Replicas entries (DefaultReplicas, 256) and an endpoint of weight w
// round(Replicas × w / smallest weight). The count depends on the endpoint
// alone, not on how many others there are, so removing an endpoint moves
// only its keys and adding one moves keys only to it: the minimum any
// consistent hash can move. Two things suspend that independence, both
// documented on Config: a set whose total falls outside [MinRingSize,
// MaxRingSize] is scaled in proportion (by default only above 1,048,576
// entries, that is beyond 4096 endpoints of equal weight), and a change of
// the smallest weight rescales the others.
//
// Envoy reproduces Envoy's ring hash load balancer. Envoy sizes the whole
// ring instead: weights normalised to sum 1, scale = min(ceil(min_w ×
// MinRingSize) / min_w, MaxRingSize), and each host in the order given adds
// scale × w_i to a running target and gets entries while the running count
// is below it. The entries per host thus depend on N (ceil(1024/6) = 171
// for six hosts, 205 for five), so a change of the set moves keys between
// hosts that did not change (Envoy issue 22558). Envoy's benchmark over 500
// hosts at a minimum ring of 256000 moves 0.53% of keys when one host
// leaves, against the 0.2% optimum; the native layout moves 0.15% of the
// same 10,000 keys, exactly the keys of the host that left. Because hosts
// are walked in order, the Envoy ring depends on the order of the endpoints
// whenever the scale leaves fractional entries. A retry takes ring[(idx+k)
// % size], as Envoy's does, which may be the same host. Envoy's distribution
// benchmark (100,000 keys, hosts 10.0.{i/256}.{i%256}:6379, minimum ring
// 65536) gives a relative standard deviation of hits of 0.0449, 0.0739 and
// 0.1131 at 100, 200 and 500 hosts; this layout gives the same figures to
// the digits published, and the native layout 0.0665, 0.0753 and 0.0964
// with rings 2.6 times smaller at 100 hosts and 2 times larger at 500.
//
// GRPC reproduces grpc-go's ring_hash balancer: Envoy's construction with
// the endpoints sorted by ID and at most 4096 entries by default.
//
// Equal entry hashes, which XXH64 makes vanishingly rare, are ordered by
// endpoint ID and then replica, so the native and gRPC rings are a pure
// function of the endpoint set (Envoy and grpc-go sort with an unstable
// sort and leave such ties in no defined order).
//
// # Choosing DefaultReplicas
//
// Measured over 1000 equal endpoints (n = 100 and 500 give the same
// spread), with the exact share of the hash space each endpoint owns, on
// a 2-core machine:
//
//	entries/endpoint  rel. stddev  peak/mean  ring at n=1000  build at n=1000
//	             100        0.098       1.39          2.1 MB             5 ms
//	             160        0.082       1.25          3.6 MB             8 ms
//	             256        0.061       1.20          5.1 MB            14 ms
//	             512        0.043       1.13         10.3 MB            27 ms
//
// 256 keeps every endpoint within about 20% of the mean for a few
// kilobytes per endpoint (20 bytes an entry: hash, owner, retry link and
// index) and a build well under the time an endpoint update takes to
// propagate. Raise Replicas for a tighter spread; bounded loads cap the
// peak outright.
//
// # Lookup
//
// A binary search over a ring of 256,000 entries costs 18 dependent cache
// misses. Instead, an index of 2^b buckets (the smallest power of two at
// least the ring size, at most 2^22) maps the top b bits of a hash to the
// first entry in that bucket, and a linear scan over the bucket (one entry
// on average) finishes the search. A pick costs a few nanoseconds at any
// ring size and allocates nothing. The ring itself is parallel arrays of
// hashes and uint32 owner indices.
//
// # Retries
//
// Request.Attempt k > 0 goes to the k-th distinct endpoint met walking the
// ring on from the request's entry, counting modulo the number of endpoints
// on the ring, so successive attempts visit every endpoint once before any
// repeats. Each entry links to the previous entry of its owner, which tells
// in O(1) whether the walk has met that owner before. The Envoy layout
// instead steps k entries, as Envoy does.
//
// # Bounded loads
//
// With BalanceFactor c > 0 no endpoint takes a request that would leave it
// with more than ceil(c × (T+1) × w_i / W) requests in flight, T being the
// requests in flight across the set before this one (read in O(1) from a
// Balancer, which keeps the total because Config implements
// balancer.TotalInFlightTracker) and w_i / W the endpoint's share of the
// weight. Since the capacities add up to at least T+1, some endpoint always
// has room; a request whose endpoint is full walks the ring, distinct
// endpoints only, to the first with room, the same walk on every proxy.
// Envoy's hash_balance_factor is the same bound in percent; Envoy probes
// the others in a shuffle seeded by the hash instead of walking the ring,
// which spreads a hot key's overflow wider at the cost of locality.
//
// # Example
//
// Three endpoints of weight 1 and one of weight 2 in the native layout get
// 256, 256, 256 and 512 entries, 1280 in all, and about 20%, 20%, 20% and
// 40% of the keys. A request for key "session-42" hashes to
// XXH64("session-42") and lands on the first entry at or after it, owned
// by 10.0.0.1:8080; its first retry goes to the next other endpoint along
// the ring, 10.0.0.2:8080. Removing the other two endpoints leaves the
// key on 10.0.0.1:8080, because nothing else changed places. See Example.
package ringhash
