package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/config"
)

// Algorithm is one load-balancing configuration under test.
type Algorithm struct {
	// Name is how reports and the command line call it.
	Name string
	// Consistent says the algorithm maps keys to endpoints (hash pickers),
	// so key disruption and proxy agreement apply to it.
	Consistent bool
	// New returns the Builder for one proxy; src seeds its randomness.
	New func(src rand.Source) balancer.Builder
	// Baseline runs the proxies without the scenario's proxy features
	// (health checking, outlier detection, panic threshold, slow start,
	// session affinity, zone routing): the baseline a comparison sets
	// beside each algorithm when the scenario has any (see
	// Options.NoBaseline).
	Baseline bool
}

// Algorithms returns the built-in algorithms, config.Presets, in the order
// reports list them. The slice is the caller's.
func Algorithms() []Algorithm {
	var out []Algorithm
	for _, a := range config.Presets() {
		out = append(out, FromConfig(a))
	}
	return out
}

// FromConfig returns the Algorithm that runs a (which must be valid, as
// config's decoders and Parse leave it), named by a.String().
func FromConfig(a config.Algorithm) Algorithm {
	return Algorithm{Name: a.String(), Consistent: a.Consistent(), New: func(s rand.Source) balancer.Builder {
		b, err := a.Builder(s)
		if err != nil {
			panic(fmt.Sprintf("sim: FromConfig with an invalid configuration: %v", err))
		}
		return b
	}}
}

// AlgorithmNames returns every name SelectAlgorithms accepts
// (config.Names).
func AlgorithmNames() []string { return config.Names() }

// SelectAlgorithms returns the algorithms with the given names (any of
// config.Names), in the given order; no names means all of Algorithms. An
// unknown name is an error that lists the valid ones; so is a name given
// twice.
func SelectAlgorithms(names []string) ([]Algorithm, error) {
	if len(names) == 0 {
		return Algorithms(), nil
	}
	var out []Algorithm
	for _, n := range names {
		a, err := config.Parse(n)
		if err != nil {
			return nil, &UnknownNameError{Kind: "algorithm", Name: strings.TrimSpace(n), Valid: AlgorithmNames()}
		}
		for _, o := range out {
			if o.Name == a.String() {
				return nil, fmt.Errorf("sim: algorithm %q is named twice", o.Name)
			}
		}
		out = append(out, FromConfig(a))
	}
	return out, nil
}

// configAlgorithms returns the algorithms that cs configure, in order;
// none means all of Algorithms. An invalid configuration, or two that
// carry the same name, is an error.
func configAlgorithms(cs []config.Algorithm) ([]Algorithm, error) {
	if len(cs) == 0 {
		return Algorithms(), nil
	}
	var out []Algorithm
	for i, c := range cs {
		if err := c.Validate(); err != nil {
			if c.Base() == "" {
				return nil, &UnknownNameError{Kind: "algorithm", Name: strings.TrimSpace(c.Name), Valid: AlgorithmNames()}
			}
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		a := FromConfig(c)
		for _, o := range out {
			if o.Name == a.Name {
				return nil, fmt.Errorf("sim: algorithm %q is named twice", a.Name)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// UnknownNameError reports a name that is not one of the valid ones.
type UnknownNameError struct {
	Kind  string
	Name  string
	Valid []string
}

func (e *UnknownNameError) Error() string {
	return "sim: unknown " + e.Kind + " " + quote(e.Name) + "; valid: " + strings.Join(e.Valid, ", ")
}

func quote(s string) string { return `"` + s + `"` }
