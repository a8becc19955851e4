package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/random"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
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

// Algorithms returns the built-in algorithms, in the order reports list
// them. The slice is the caller's.
func Algorithms() []Algorithm {
	return []Algorithm{
		{Name: "round-robin", Consistent: false, New: func(s rand.Source) balancer.Builder { return roundrobin.Config{Rand: s} }},
		{Name: "random", Consistent: false, New: func(s rand.Source) balancer.Builder { return random.Config{Rand: s} }},
		{Name: "least-request", Consistent: false, New: func(s rand.Source) balancer.Builder { return leastconn.Config{Rand: s} }},
		{Name: "least-request-3", Consistent: false, New: func(s rand.Source) balancer.Builder { return leastconn.Config{Choices: 3, Rand: s} }},
		{Name: "least-request-full", Consistent: false, New: func(s rand.Source) balancer.Builder { return leastconn.Config{FullScan: true, Rand: s} }},
		{Name: "peak-ewma", Consistent: false, New: func(s rand.Source) balancer.Builder { return leastconn.Config{PeakEWMA: true, Rand: s} }},
		{Name: "ring-hash", Consistent: true, New: func(s rand.Source) balancer.Builder { return ringhash.Config{Rand: s} }},
		{Name: "ring-hash-envoy", Consistent: true, New: func(s rand.Source) balancer.Builder { return ringhash.Config{Compat: ringhash.Envoy, Rand: s} }},
		{Name: "ring-hash-bounded", Consistent: true, New: func(s rand.Source) balancer.Builder { return ringhash.Config{BalanceFactor: 1.25, Rand: s} }},
		{Name: "maglev", Consistent: true, New: func(s rand.Source) balancer.Builder { return maglev.Config{Rand: s} }},
		{Name: "maglev-bounded", Consistent: true, New: func(s rand.Source) balancer.Builder { return maglev.Config{BalanceFactor: 1.25, Rand: s} }},
	}
}

// AlgorithmNames returns the names of the built-in algorithms.
func AlgorithmNames() []string {
	var names []string
	for _, a := range Algorithms() {
		names = append(names, a.Name)
	}
	return names
}

// SelectAlgorithms returns the built-in algorithms with the given names, in
// the given order; no names means all of them. An unknown name is an
// error that lists the valid ones; so is a name given twice.
func SelectAlgorithms(names []string) ([]Algorithm, error) {
	all := Algorithms()
	if len(names) == 0 {
		return all, nil
	}
	var out []Algorithm
	for _, n := range names {
		n = strings.TrimSpace(n)
		found := false
		for _, a := range all {
			if strings.EqualFold(a.Name, n) {
				for _, o := range out {
					if o.Name == a.Name {
						return nil, fmt.Errorf("sim: algorithm %q is named twice", a.Name)
					}
				}
				out = append(out, a)
				found = true
				break
			}
		}
		if !found {
			return nil, &UnknownNameError{Kind: "algorithm", Name: n, Valid: AlgorithmNames()}
		}
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
