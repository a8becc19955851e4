package maglev

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
)

// DefaultTableSize is the table size a zero Config.TableSize means: the
// prime Eisenbud et al. recommend (section 5.3) and Envoy's default.
const DefaultTableSize = 65537

// MaxTableSize is the largest table size Config accepts, Envoy's limit.
const MaxTableSize = 5_000_011

var (
	// ErrTableSize is wrapped by the errors Build returns for a table size
	// that is not prime, is smaller than the number of endpoints, or is
	// larger than MaxTableSize.
	ErrTableSize = errors.New("maglev: invalid table size")
	// ErrBalanceFactor is wrapped by the errors Build returns for a
	// BalanceFactor that is negative, between 0 and 1, NaN or infinite.
	ErrBalanceFactor = errors.New("maglev: invalid balance factor")
)

// Config builds Maglev pickers; it implements balancer.Builder. The zero
// Config is valid: a table of DefaultTableSize slots, no load bound, and
// math/rand/v2's generator for requests without a hash.
//
// A Config is a value; Build may be called from several goroutines at once.
type Config struct {
	// TableSize is the number of slots M in the lookup table. It must be a
	// prime, at least the number of endpoints and at most MaxTableSize.
	// Eisenbud et al. suggest M > 100 N for shares within 1% of each other.
	// Zero means DefaultTableSize.
	TableSize uint64

	// BalanceFactor turns on consistent hashing with bounded loads: an
	// endpoint of weight w_i out of a total weight W accepts a request only
	// while it holds fewer than ceil(BalanceFactor × (T+1) × w_i / W), where
	// T is the number of requests in flight across the set; otherwise the
	// pick walks on to the next endpoint that does (see the package doc).
	// 1.25 lets no endpoint run more than 25% above its share. Zero means
	// off; values below 1, NaN and infinities are errors.
	BalanceFactor float64

	// Rand draws the hash of requests that carry none (Request.HasHash
	// false). Nil means math/rand/v2's top-level generator, which is
	// per-thread and lock-free; balancer.NewSource gives a seeded one.
	Rand rand.Source
}

// TrackTotalInFlight reports whether pickers read the total in flight, so
// that a balancer.Balancer keeps it in O(1): true when BalanceFactor is set.
func (c Config) TrackTotalInFlight() bool { return c.BalanceFactor > 0 }

// ConsistentHash reports true: the picker's table is a function of the
// endpoint set and their weights. It implements balancer.ConsistentHasher.
func (Config) ConsistentHash() bool { return true }

// tableSize returns the effective table size, or an error if it cannot
// serve n endpoints.
func (c Config) tableSize(n int) (uint64, error) {
	m := c.TableSize
	if m == 0 {
		m = DefaultTableSize
	}
	switch {
	case m > MaxTableSize:
		return 0, fmt.Errorf("%w: %d is above the maximum %d", ErrTableSize, m, uint64(MaxTableSize))
	case !isPrime(m):
		return 0, fmt.Errorf("%w: %d is not prime", ErrTableSize, m)
	case m < uint64(n):
		return 0, fmt.Errorf("%w: %d slots cannot hold %d endpoints", ErrTableSize, m, n)
	}
	return m, nil
}

func (c Config) checkBalanceFactor() error {
	f := c.BalanceFactor
	if f == 0 {
		return nil
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 1 {
		return fmt.Errorf("%w: %v; want 0 (off) or a finite value of at least 1", ErrBalanceFactor, f)
	}
	return nil
}

// Build returns a Picker over eps: an immutable lookup table built as
// Envoy builds it (see the package doc), so that for the same IDs, weights
// and request hash lbkit and Envoy pick the same endpoint. The order of eps
// does not matter. An empty set gives a Picker that answers
// balancer.ErrNoEndpoints. Build does not modify eps.
func (c Config) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if err := c.checkBalanceFactor(); err != nil {
		return nil, err
	}
	if err := balancer.Validate(eps); err != nil {
		return nil, fmt.Errorf("maglev: %w", err)
	}
	m, err := c.tableSize(len(eps))
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	return newPicker(c, sortedHosts(eps, m), m), nil
}

// isPrime reports whether m is prime, by trial division (m is at most
// MaxTableSize, so at most about 1,100 divisions).
func isPrime(m uint64) bool {
	if m < 2 {
		return false
	}
	if m%2 == 0 {
		return m == 2
	}
	for d := uint64(3); d*d <= m; d += 2 {
		if m%d == 0 {
			return false
		}
	}
	return true
}
