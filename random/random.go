package random

import (
	"fmt"
	"math/rand/v2"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/alias"
)

// Config is a balancer.Builder of random pickers. The zero Config is valid:
// uniform or weighted random from math/rand/v2's top-level functions.
type Config struct {
	// Rand is the source of randomness. Concurrent picks call its Uint64
	// concurrently, so it must be safe for concurrent use, as
	// balancer.NewSource's seeded sources are. Nil means math/rand/v2's
	// top-level functions, which are per-thread and lock-free: the right
	// choice for a busy proxy.
	Rand rand.Source
}

// Build returns a Picker over eps: uniform when every weight is equal,
// weighted by Vose's alias method otherwise. It returns an error wrapping
// balancer.ErrInvalidBackend for a nil, empty-ID or duplicate endpoint, and
// a Picker that answers balancer.ErrNoEndpoints for an empty set.
func (c Config) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if err := balancer.Validate(eps); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	ws, equal := alias.Weights(eps)
	if equal {
		return &uniform{eps: eps, src: c.Rand}, nil
	}
	t, err := alias.New(ws)
	if err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return &weighted{eps: eps, table: t, src: c.Rand}, nil
}
