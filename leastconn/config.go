package leastconn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/alias"
)

// Defaults of the zero Config.
const (
	// DefaultChoices is the number of endpoints a pick samples: the power
	// of two choices.
	DefaultChoices = 2
	// MaxChoices is the largest Choices accepted, as in gRPC's
	// least_request.
	MaxChoices = 10
	// DefaultDecay is the time constant of the peak-EWMA latency, Linkerd's
	// and Finagle's default.
	DefaultDecay = balancer.DefaultLatencyDecay
	// DefaultLatency is the latency assumed for an endpoint with no sample
	// yet, Linkerd's default RTT estimate.
	DefaultLatency = 30 * time.Millisecond
)

// ErrInvalidConfig is wrapped by the errors Build returns for a Config out
// of range.
var ErrInvalidConfig = errors.New("leastconn: invalid config")

// Config is a balancer.Builder of least-request pickers. The zero Config is
// valid: the power of two choices over requests in flight per unit of
// weight, with math/rand/v2's top-level functions as the random source.
//
// Config implements balancer.LatencyDecayer, so a Balancer made with it
// averages its endpoints' latency with the time constant Decay.
type Config struct {
	// Choices is how many distinct endpoints a pick samples before it takes
	// the least loaded of them. Zero means 2 (DefaultChoices); 2 to 10 are
	// valid, and Build rejects anything else, even with FullScan. A set of
	// Choices endpoints or fewer is scanned whole.
	Choices int
	// FullScan makes every pick scan all endpoints and take an exact least
	// loaded one, ties broken at random in proportion to weight. It costs
	// O(n) a pick. False means sampling Choices endpoints.
	FullScan bool
	// PeakEWMA makes the load of an endpoint its peak-EWMA latency times its
	// requests in flight plus one, per unit of weight (Linkerd, Finagle),
	// instead of its requests in flight per unit of weight. It applies to
	// sampling and to FullScan. False means requests in flight only.
	PeakEWMA bool
	// Decay is the time constant of the peak-EWMA latency: a sample's
	// weight falls by 1/e every Decay. Zero means 10 s (DefaultDecay);
	// negative is an error. A Balancer made with this Config uses it for
	// its endpoints whether or not PeakEWMA is set; endpoints made by
	// balancer.NewEndpoint keep balancer.DefaultLatencyDecay.
	Decay time.Duration
	// DefaultLatency is the latency a PeakEWMA pick assumes for an endpoint
	// with no sample yet (or whose estimate has decayed to zero). Zero means
	// 30 ms (DefaultLatency, linkerd2-proxy's EWMA_DEFAULT_RTT); negative is
	// an error. Linkerd seeds each estimate with it and lets it decay like a
	// sample; here it stays the cost basis until the first sample arrives.
	DefaultLatency time.Duration
	// FailurePenalty is the latency a failed request counts as, at least,
	// in its endpoint's peak EWMA: an endpoint that answers errors in a
	// millisecond is not a fast one, so a fast failure is never good news
	// (Finagle penalises failures the same way). The estimate jumps to the
	// penalty at once and decays from it with Decay, so the endpoint is
	// tried again once its cost falls below its peers'. Zero means 1 s
	// (balancer.DefaultFailurePenalty); negative is an error.
	FailurePenalty time.Duration
	// Rand is the source of randomness. Concurrent picks call its Uint64
	// concurrently, so it must be safe for concurrent use, as
	// balancer.NewSource's seeded sources are. Nil means math/rand/v2's
	// top-level functions, which are per-thread and lock-free: the right
	// choice for a busy proxy.
	Rand rand.Source
}

// LatencyDecay returns the peak-EWMA time constant: Decay, or DefaultDecay
// when Decay is not positive. It implements balancer.LatencyDecayer.
func (c Config) LatencyDecay() time.Duration {
	if c.Decay > 0 {
		return c.Decay
	}
	return DefaultDecay
}

// FailureLatency returns the latency a failure counts as at least:
// FailurePenalty, or balancer.DefaultFailurePenalty when it is not
// positive. It implements balancer.FailurePenalizer.
func (c Config) FailureLatency() time.Duration {
	if c.FailurePenalty > 0 {
		return c.FailurePenalty
	}
	return balancer.DefaultFailurePenalty
}

// validate checks c and returns it with its defaults applied.
func (c Config) validate() (Config, error) {
	switch {
	case c.Choices == 0:
		c.Choices = DefaultChoices
	case c.Choices < 2 || c.Choices > MaxChoices:
		return c, fmt.Errorf("%w: Choices is %d, want 0 or 2 to %d", ErrInvalidConfig, c.Choices, MaxChoices)
	}
	if c.Decay < 0 {
		return c, fmt.Errorf("%w: Decay is %v, want 0 or more", ErrInvalidConfig, c.Decay)
	}
	if c.DefaultLatency < 0 {
		return c, fmt.Errorf("%w: DefaultLatency is %v, want 0 or more", ErrInvalidConfig, c.DefaultLatency)
	}
	if c.FailurePenalty < 0 {
		return c, fmt.Errorf("%w: FailurePenalty is %v, want 0 or more", ErrInvalidConfig, c.FailurePenalty)
	}
	c.Decay = c.LatencyDecay()
	if c.DefaultLatency == 0 {
		c.DefaultLatency = DefaultLatency
	}
	return c, nil
}

// Build returns a Picker over eps for c. It returns an error wrapping
// ErrInvalidConfig for a Config out of range, one wrapping
// balancer.ErrInvalidBackend for a nil, empty-ID or duplicate endpoint, and
// a Picker that answers balancer.ErrNoEndpoints for an empty set.
func (c Config) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	c, err := c.validate()
	if err != nil {
		return nil, err
	}
	if err := balancer.Validate(eps); err != nil {
		return nil, fmt.Errorf("leastconn: %w", err)
	}
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	ws, equal := alias.Weights(eps)
	m := costModel{defLatency: float64(c.DefaultLatency)}
	if c.FullScan || c.Choices >= len(eps) {
		return &scan{eps: eps, peak: c.PeakEWMA, cost: m, src: c.Rand}, nil
	}
	if equal && c.Choices == 2 && !c.PeakEWMA {
		return &p2c{eps: eps, src: c.Rand}, nil
	}
	s := &sample{eps: eps, choices: c.Choices, peak: c.PeakEWMA, cost: m, src: c.Rand}
	if !equal {
		if s.table, err = alias.New(ws); err != nil {
			return nil, fmt.Errorf("leastconn: %w", err)
		}
		if c.Choices == 2 && !c.PeakEWMA {
			return &p2cWeighted{s: s}, nil
		}
	}
	return s, nil
}
