package ringhash

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
)

// Compat selects the ring layout: which endpoints get how many entries and
// where. The zero value is lbkit's own stable layout.
type Compat uint8

const (
	// Native is lbkit's stable layout: every endpoint gets a fixed number of
	// entries per unit of weight, independent of the rest of the set, so a
	// change of the set moves only the keys of the endpoints that changed.
	Native Compat = iota
	// Envoy reproduces Envoy's ring hash load balancer entry for entry:
	// ring sizes from MinRingSize and MaxRingSize, endpoints walked in the
	// order given, and retries at ring[(idx+attempt) % size].
	Envoy
	// GRPC reproduces grpc-go's ring_hash balancer: Envoy's construction
	// with the endpoints sorted by ID and a default maximum of 4096 entries.
	GRPC
)

// String returns the layout's name.
func (c Compat) String() string {
	switch c {
	case Native:
		return "native"
	case Envoy:
		return "envoy"
	case GRPC:
		return "grpc"
	}
	return fmt.Sprintf("Compat(%d)", uint8(c))
}

// Limits and defaults.
const (
	// MaxRingSizeLimit is the largest MinRingSize or MaxRingSize a Config
	// accepts, Envoy's and gRPC's upper bound (8,388,608 entries).
	MaxRingSizeLimit = 8 << 20
	// DefaultReplicas is the native layout's entries for an endpoint of the
	// set's smallest weight, chosen by measurement (see the package doc):
	// the relative stddev of load is about 1/sqrt(DefaultReplicas), 6%.
	DefaultReplicas = 256
	// MaxReplicas is the largest Replicas a Config accepts.
	MaxReplicas = 1 << 16
	// DefaultNativeMaxRingSize caps the native ring at about 20 MB
	// (hashes, owners, retry links and index).
	DefaultNativeMaxRingSize = 1 << 20

	envoyMinRingSize = 1024
	envoyMaxRingSize = MaxRingSizeLimit
	grpcMinRingSize  = 1024
	grpcMaxRingSize  = 4096
)

// ErrInvalidConfig is wrapped by the errors Build returns for a Config it
// cannot use.
var ErrInvalidConfig = errors.New("ringhash: invalid config")

// Config is the ring hash balancer.Builder; it also implements
// balancer.TotalInFlightTracker. The zero Config is lbkit's stable
// layout with DefaultReplicas entries per smallest weight, no bounded
// loads, and random picks for requests without a hash.
//
// A Config is a plain value; Build does not modify it and is safe for
// concurrent use by multiple goroutines.
type Config struct {
	// MinRingSize is the smallest ring, in entries.
	//
	// For Envoy and GRPC it is their minimum_ring_size: the endpoint of the
	// smallest normalised weight gets ceil(weight × MinRingSize) entries and
	// the others in proportion. Zero means 1024, both systems' default.
	//
	// For the native layout, a set whose entries fall short of MinRingSize
	// has every endpoint's count scaled up in proportion; that set's layout
	// then depends on its size. Zero means no minimum, which keeps the
	// layout independent of the set.
	//
	// It must not exceed MaxRingSizeLimit or the effective MaxRingSize.
	MinRingSize uint64
	// MaxRingSize is the largest ring, in entries.
	//
	// For Envoy it is maximum_ring_size; zero means Envoy's 8,388,608. For
	// GRPC zero means grpc-go's 4096; explicit values are used as given,
	// as grpc-go does with GRPC_RING_HASH_CAP raised (an unmodified grpc-go
	// clamps both sizes to 4096, so keep them at or below 4096 to match one).
	//
	// For the native layout it caps the total: when the endpoints' entries
	// add up to more, every count is scaled down in proportion (keeping at
	// least one entry per endpoint, so a ring of n endpoints has at least n
	// entries), and that set's layout then depends on the whole set. Zero
	// means DefaultNativeMaxRingSize (1,048,576 entries, about 20 MB).
	//
	// It must not exceed MaxRingSizeLimit.
	MaxRingSize uint64
	// BalanceFactor turns on consistent hashing with bounded loads: no
	// endpoint takes a request that would put more than
	// ceil(BalanceFactor × (total in flight + 1) × weight / total weight)
	// requests in flight on it; such requests walk the ring to the next
	// endpoint with room. 1.25 allows 25% above the average. Zero means
	// off; otherwise it must be a finite number of at least 1. The bound
	// counts requests picked through a balancer.Balancer (or begun with
	// Endpoint.Begin).
	BalanceFactor float64
	// Compat selects the layout. The zero value is Native.
	Compat Compat
	// Replicas is the native layout's entry count for an endpoint of the
	// set's smallest weight; an endpoint of weight w gets
	// round(Replicas × w / smallest weight) entries, before the MinRingSize
	// and MaxRingSize scaling. Zero means DefaultReplicas. At most
	// MaxReplicas. Envoy and GRPC ignore it.
	Replicas uint32
	// Rand supplies the random hash of requests without one (HasHash
	// false). Nil means math/rand/v2's top-level generator; see
	// balancer.NewSource for a seeded one.
	Rand rand.Source
}

// TrackTotalInFlight reports whether the Builder needs the total in flight,
// which is when bounded loads are on. It implements
// balancer.TotalInFlightTracker.
func (c Config) TrackTotalInFlight() bool { return c.BalanceFactor > 0 }

// ConsistentHash reports true: the picker's table is a function of the
// endpoint set and their weights. It implements balancer.ConsistentHasher.
func (Config) ConsistentHash() bool { return true }

// settings is a Config with its defaults applied and checked.
type settings struct {
	compat   Compat
	min, max uint64
	replicas uint64
	factor   float64 // 0: bounded loads off
}

// resolve checks c and applies its defaults.
func (c Config) resolve() (settings, error) {
	s := settings{compat: c.Compat, min: c.MinRingSize, max: c.MaxRingSize, replicas: uint64(c.Replicas), factor: c.BalanceFactor}
	f := c.BalanceFactor
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || (f > 0 && f < 1) {
		return s, fmt.Errorf("%w: BalanceFactor %v: want 0 (off) or a finite number >= 1", ErrInvalidConfig, f)
	}
	if s.min > MaxRingSizeLimit || s.max > MaxRingSizeLimit {
		return s, fmt.Errorf("%w: ring size min %d, max %d: the limit is %d", ErrInvalidConfig, s.min, s.max, MaxRingSizeLimit)
	}
	if s.replicas > MaxReplicas {
		return s, fmt.Errorf("%w: Replicas %d: the limit is %d", ErrInvalidConfig, s.replicas, MaxReplicas)
	}
	switch c.Compat {
	case Native:
		if s.replicas == 0 {
			s.replicas = DefaultReplicas
		}
		if s.max == 0 {
			s.max = DefaultNativeMaxRingSize
		}
	case Envoy:
		s.min = orDefault(s.min, envoyMinRingSize)
		s.max = orDefault(s.max, envoyMaxRingSize)
	case GRPC:
		s.min = orDefault(s.min, grpcMinRingSize)
		s.max = orDefault(s.max, grpcMaxRingSize)
	default:
		return s, fmt.Errorf("%w: unknown Compat %d", ErrInvalidConfig, uint8(c.Compat))
	}
	if s.min > s.max {
		return s, fmt.Errorf("%w: MinRingSize %d > MaxRingSize %d", ErrInvalidConfig, s.min, s.max)
	}
	return s, nil
}

func orDefault(v, def uint64) uint64 {
	if v == 0 {
		return def
	}
	return v
}

// Build returns a Picker over eps. An empty eps gives a Picker that answers
// balancer.ErrNoEndpoints. It returns an error wrapping ErrInvalidConfig
// for a Config it cannot use and one wrapping balancer.ErrInvalidBackend
// for a nil endpoint or an empty or duplicate ID; and, for Envoy, when the
// weights add up to more than 4294967295, which Envoy rejects too.
func (c Config) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	s, err := c.resolve()
	if err != nil {
		return nil, err
	}
	if err := balancer.Validate(eps); err != nil {
		return nil, fmt.Errorf("ringhash: %w", err)
	}
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	if uint64(len(eps)) > math.MaxUint32 {
		return nil, fmt.Errorf("ringhash: %w: %d endpoints: the limit is %d", balancer.ErrInvalidBackend, len(eps), uint32(math.MaxUint32))
	}
	counts, err := s.counts(eps)
	if err != nil {
		return nil, err
	}
	r := buildRing(eps, counts)
	if len(r.hashes) == 0 {
		// Unreachable: every layout gives the ring at least one entry.
		return nil, fmt.Errorf("%w: the ring is empty", ErrInvalidConfig)
	}
	return newPicker(eps, r, s, c.Rand), nil
}
