package roundrobin

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// ErrInvalidConfig is wrapped by the error Build returns for a Config it
// cannot use.
var ErrInvalidConfig = errors.New("roundrobin: invalid config")

// Limits of the weighted cycle.
const (
	// MaxTableLimit is the largest MaxTableSize a Config may set, and the
	// most endpoints a weighted Picker takes: 16 Mi entries, a 32 MiB
	// table (64 MiB beyond 65,536 endpoints).
	MaxTableLimit = 1 << 24
	// minDefaultTable is the least default cap on the weighted cycle.
	minDefaultTable = 1 << 16
	// maxShards caps the cursors of the sharded mode.
	maxShards = 64
)

// Config is the round-robin Builder. The zero Config is ready to use: a
// random start from math/rand/v2's top-level generator and the default
// table cap.
//
// A Config is a value; Build does not modify it and may be called from
// several goroutines at once if Rand is safe for concurrent use.
type Config struct {
	// Rand is the source of each Picker's random start offset (one draw a
	// Build). Nil means math/rand/v2's top-level functions. A seeded Source
	// (balancer.NewSource) makes the start, and so every pick made from a
	// single goroutine, reproducible.
	Rand rand.Source

	// MaxTableSize caps the weighted cycle, in entries (2 bytes each up to
	// 65,536 endpoints, 4 bytes beyond). When the weights, reduced by their
	// greatest common divisor, add up to more, they are scaled down to fit,
	// each to at least 1, and shares are then exact only to that rounding
	// (see the package documentation). Zero means max(64·n, 65536) for n
	// endpoints, at most MaxTableLimit. The cap is never below 2·n. Negative
	// values and values above MaxTableLimit are an error.
	MaxTableSize int
}

// Build returns a Picker over eps. It returns balancer.EmptyPicker for an
// empty set, an error wrapping balancer.ErrInvalidBackend for a nil
// endpoint, and an error wrapping ErrInvalidConfig for a bad MaxTableSize
// or unequal weights over more than MaxTableLimit endpoints.
//
// Equal weights give a plain round robin over eps in order, built in O(n).
// Unequal weights give the smooth weighted cycle described in the package
// documentation, built in O(W log W) time at worst and O(W) memory for a
// table of W entries (about 2 ms for 10,000 endpoints of weights 1 to 5,
// 40 ms for 10,000 arbitrary 32-bit weights capped to 640,000 entries).
//
// Round robin needs neither distinct nor non-empty IDs, so Build checks
// only for nil endpoints, in O(n) without the map balancer.Validate builds.
func (c Config) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if c.MaxTableSize < 0 || c.MaxTableSize > MaxTableLimit {
		return nil, fmt.Errorf("%w: MaxTableSize %d is outside [0, %d]", ErrInvalidConfig, c.MaxTableSize, MaxTableLimit)
	}
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	for i, e := range eps {
		if e == nil {
			return nil, fmt.Errorf("roundrobin: endpoint %d is nil: %w", i, balancer.ErrInvalidBackend)
		}
	}
	if len(eps) == 1 {
		return single{eps[0]}, nil
	}
	weights, total := reduce(eps, c.tableCap(len(eps)))
	if weights == nil {
		return newRR(eps, c.Rand), nil
	}
	if len(eps) > MaxTableLimit {
		return nil, fmt.Errorf("%w: %d endpoints of unequal weights, more than %d", ErrInvalidConfig, len(eps), MaxTableLimit)
	}
	items := make([]item, len(eps))
	for i, w := range weights {
		items[i] = item{idx: uint32(i), w: w}
	}
	seq := cycle(items, total)
	if len(eps) <= 1<<16 {
		table := make([]uint16, len(seq))
		for i, x := range seq {
			table[i] = uint16(x)
		}
		return newWRR(eps, table, c.Rand), nil
	}
	return newWRR(eps, seq, c.Rand), nil
}

// tableCap returns the cap on the weighted cycle for n endpoints.
func (c Config) tableCap(n int) uint64 {
	limit := c.MaxTableSize
	if limit == 0 {
		limit = min(max(64*n, minDefaultTable), MaxTableLimit)
	}
	return uint64(max(limit, 2*n))
}

// reduce returns the endpoints' weights divided by their greatest common
// divisor and scaled to fit limit, with their sum; or nil when every weight
// is the same.
//
// Scaling maps w to max(1, floor(w·t/W)) with t = limit - n, so the sum
// stays within limit; it is reduced by the common divisor again afterwards.
func reduce(eps []*balancer.Endpoint, limit uint64) ([]uint64, uint64) {
	w0 := weight(eps[0])
	g := w0
	equal := true
	var total uint64
	for _, e := range eps {
		w := weight(e)
		equal = equal && w == w0
		g = gcd(g, w)
		total += w
	}
	if equal {
		return nil, 0
	}
	ws := make([]uint64, len(eps))
	for i, e := range eps {
		ws[i] = weight(e) / g
	}
	total /= g
	if total <= limit {
		return ws, total
	}
	t := limit - uint64(len(eps))
	var scaled uint64
	g, equal = 0, true
	for i, w := range ws {
		hi, lo := bits.Mul64(w, t)
		q, _ := bits.Div64(hi, lo, total) // w <= total, so q <= t
		ws[i] = max(q, 1)
		scaled += ws[i]
		g = gcd(g, ws[i])
		equal = equal && ws[i] == ws[0]
	}
	if equal {
		return nil, 0
	}
	for i := range ws {
		ws[i] /= g
	}
	return ws, scaled / g
}

// weight returns e's weight; zero (an Endpoint not made by NewEndpoint)
// counts as 1.
func weight(e *balancer.Endpoint) uint64 { return uint64(max(e.Weight, 1)) }

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// shardCount returns the number of cursors of the sharded mode: the power
// of two at least 4·GOMAXPROCS, at most maxShards; 4·GOMAXPROCS rather
// than 2·GOMAXPROCS halves the chance that two picks hit one shard at once,
// for a wider evenness bound (K+1 windows).
func shardCount() int {
	k := 4
	for k < 4*runtime.GOMAXPROCS(0) && k < maxShards {
		k *= 2
	}
	return k
}

// start returns a random offset in [0, n).
func start(src rand.Source, n uint32) uint32 { return uint32(xrand.N(src, uint64(n))) }
