package sim

import (
	"runtime"
	"sync"
)

// Options tune how a scenario is run, not what it models.
type Options struct {
	// PickCost times a batch of the library's Picks at the end of every
	// window, on a copy of a proxy's current Picker (its own random source
	// and cursor) in the state the run has reached, and reports the median
	// in Result.PickNanos. The timing never feeds back into the model, but
	// it makes that one field differ from run to run.
	PickCost bool
	// DisruptionKeys is the number of keys sampled to measure key
	// disruption and proxy agreement. Zero means 4096.
	DisruptionKeys int
	// Parallel is the number of algorithms run at once (each run is
	// single-threaded). Zero means GOMAXPROCS.
	Parallel int
	// Progress, if not nil, is called now and then with the fraction of
	// virtual time an algorithm's run has covered. It may be called from
	// several goroutines at once.
	Progress func(algorithm string, done float64)

	// instant, if not nil, is called at the end of every virtual instant,
	// once the events of that time and the publishing they caused are
	// done: the tests' window into a run.
	instant func(*run)
}

// Report is the comparison of several algorithms on one scenario.
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	Seed        uint64    `json:"seed"`
	Duration    Duration  `json:"duration"`
	Pods        int       `json:"pods"`
	Proxies     int       `json:"proxies"`
	Rate        float64   `json:"rate"`
	Results     []*Result `json:"results"`
}

// Compare runs the scenario once for each of its algorithms (all of them
// when it names none), each on the same seed, and returns the results in
// the scenario's order.
func Compare(sc Scenario, opts Options) (*Report, error) {
	if err := sc.prepare(); err != nil {
		return nil, err
	}
	algs, err := SelectAlgorithms(sc.Algorithms)
	if err != nil {
		return nil, err
	}
	par := opts.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	results := make([]*Result, len(algs))
	errs := make([]error, len(algs))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, a := range algs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = Run(sc, a, opts)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return &Report{
		Scenario: sc.Name, Description: sc.Description, Seed: sc.Seed,
		Duration: sc.Duration, Pods: sc.Deployment.Replicas, Proxies: sc.Proxies.Replicas,
		Rate: sc.Workload.Rate, Results: results,
	}, nil
}
