package sim_test

import (
	"fmt"
	"github.com/lbkit/lbkit/config"
	"time"

	"github.com/lbkit/lbkit/sim"
)

// Compare runs one scenario for several algorithms on the same seed.
func ExampleCompare() {
	sc := sim.Scenario{
		Name:       "scale-in",
		Duration:   sim.Duration(30 * time.Second),
		Algorithms: []config.Algorithm{{Name: "ring-hash"}, {Name: "ring-hash-envoy"}, {Name: "maglev"}},
		Deployment: sim.Deployment{Replicas: 20},
		Workload:   sim.Workload{Rate: 500, Keys: sim.Keys{Count: 10_000}},
		Proxies:    sim.Proxies{Replicas: 2},
		Churn: []sim.Churn{
			{At: sim.Duration(10 * time.Second), Scale: &sim.ScaleAction{Replicas: 19}},
		},
	}
	rep, err := sim.Compare(sc, sim.Options{})
	if err != nil {
		panic(err)
	}
	for _, r := range rep.Results {
		d := r.Disruption
		fmt.Printf("%-16s keys moved %.3f (optimum %.3f), failed %d\n", r.Algorithm, d.KeysMoved, d.Optimum, r.Failed)
	}
	// Output:
	// ring-hash        keys moved 0.052 (optimum 0.050), failed 0
	// ring-hash-envoy  keys moved 0.056 (optimum 0.050), failed 0
	// maglev           keys moved 0.052 (optimum 0.050), failed 0
}

// ParseScenario reads a scenario from YAML; errors name the line and the
// field.
func ExampleParseScenario() {
	_, err := sim.ParseScenario("mine.yaml", []byte(`
name: mine
duration: 60s
deployment:
  replicas: 10
workload:
  rate: -5
`))
	fmt.Println(err)
	_, err = sim.ParseScenario("typo.yaml", []byte(`
name: typo
duration: 60s
deployment:
  replicas: 10
  replcas: 12
`))
	fmt.Println(err)
	// Output:
	// mine.yaml:7: sim: invalid scenario: workload.rate: must be a positive number of requests a second up to 1e+08, got -5
	// typo.yaml: sim: invalid scenario: line 6: unknown field "replcas"
}

// Replications give every figure an interval, and tell which differences
// are real: all the algorithms of a replication see the same requests.
func ExampleCompare_runs() {
	sc := sim.Scenario{
		Name:       "two-choices",
		Seed:       7,
		Duration:   sim.Duration(20 * time.Second),
		Algorithms: []config.Algorithm{{Name: "random"}, {Name: "least-request"}},
		Deployment: sim.Deployment{Replicas: 10},
		Workload:   sim.Workload{Rate: 800}, // 80% of the pods' capacity
	}
	rep, err := sim.Compare(sc, sim.Options{Runs: 5})
	if err != nil {
		panic(err)
	}
	for _, s := range rep.Summary {
		p99 := s.Metrics["p99_ms"]
		fmt.Printf("%-14s p99 %5.1f ms ±%4.1f best=%v\n", s.Algorithm, p99.Mean, p99.CI95, p99.Best)
	}
	// Output:
	// random         p99 233.2 ms ±38.0 best=false
	// least-request  p99  79.9 ms ± 5.3 best=true
}
