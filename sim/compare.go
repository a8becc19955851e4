package sim

import (
	"runtime"
	"strings"
	"sync"

	"github.com/lbkit/lbkit/internal/xrand"
)

// Options tune how a scenario is run, not what it models.
type Options struct {
	// Algorithms, when not empty, are the algorithms to compare instead of
	// the scenario's (Scenario.Algorithms names built-in ones): a caller
	// can compare its own Builders against the built-in ones.
	Algorithms []Algorithm
	// Runs is the number of replications: Compare runs every algorithm
	// Runs times, replication k on seed ReplicationSeed(Scenario.Seed, k),
	// and reports each figure as a mean with a 95% confidence interval.
	// All the algorithms of a replication see the same arrivals, keys,
	// service demands and churn (common random numbers), so their
	// differences are measured pair by pair. Zero means 1. At most
	// MaxRuns.
	Runs int
	// PickCost times a batch of the library's Picks at the end of every
	// window, on a copy of a proxy's current Picker (its own random source
	// and cursor) in the state the run has reached, and reports the median
	// in Result.PickNanos. The timing never feeds back into the model, but
	// it makes that one field differ from run to run.
	PickCost bool
	// DisruptionKeys is the number of keys sampled to measure key
	// disruption and proxy agreement. Zero means 4096.
	DisruptionKeys int
	// MaxWork bounds the estimated work of a comparison, in simulated
	// requests' worth (see EstimateWork): a bigger one is refused with an
	// error wrapping ErrTooBig that says what makes it big. Zero means
	// DefaultMaxWork.
	MaxWork float64
	// Parallel is the number of runs made at once (each run is
	// single-threaded). Zero means GOMAXPROCS.
	Parallel int
	// Progress, if not nil, is called now and then with the fraction of
	// the whole work done so far: by Run, of its run; by Compare, of all
	// its runs together, from one goroutine at a time.
	Progress func(done float64)

	// NoBaseline leaves out the baseline runs. Without it, when the
	// scenario has health features (Proxies.HealthCheck,
	// OutlierDetection, PanicThreshold, SlowStart), Compare runs every
	// algorithm a second time without them, on the same seeds, reported
	// right after it as "<name> (no health)": what the features change is
	// measured pair by pair.
	NoBaseline bool

	// instant, if not nil, is called at the end of every virtual instant,
	// once the events of that time and the publishing they caused are
	// done: the tests' window into a run.
	instant func(*run)
}

// MaxRuns bounds Options.Runs.
const MaxRuns = 1000

// ReplicationSeed returns the seed of replication k of a scenario whose
// seed is seed: seed itself for k = 0, so that one run is the scenario's
// own seed, and a scrambled mix of both after that.
func ReplicationSeed(seed uint64, k int) uint64 {
	if k == 0 {
		return seed
	}
	return xrand.Mix64(seed + uint64(k)*0x9e37_79b9_7f4a_7c15)
}

// Report is the comparison of several algorithms on one scenario.
type Report struct {
	Scenario    string   `json:"scenario"`
	Description string   `json:"description,omitempty"`
	Seed        uint64   `json:"seed"`
	Duration    Duration `json:"duration"`
	Drain       Duration `json:"drain"`
	Pods        int      `json:"pods"`
	Proxies     int      `json:"proxies"`
	Rate        float64  `json:"rate"`
	// Timeout is the proxies' timeout (Proxies.Timeout); zero: none.
	Timeout Duration `json:"timeout,omitempty"`
	// Runs is the number of replications; Seeds their seeds.
	Runs  int      `json:"runs"`
	Seeds []uint64 `json:"seeds"`
	// Results are the first replication's results in full (windows and
	// events included), in the order of the algorithms.
	Results []*Result `json:"results"`
	// Summary gives, for each algorithm in the same order, every figure
	// over all the replications: mean, 95% confidence interval, and how it
	// compares with the best.
	Summary []*Summary `json:"summary"`
	// Notes say what a reader must know to trust the figures: overload,
	// unfinished requests, a single run.
	Notes []string `json:"notes,omitempty"`
}

// Compare runs the scenario for each of its algorithms (Options.Algorithms,
// or the scenario's; all the built-in ones when neither names any),
// Options.Runs times each, and returns the results in the
// scenario's order. The runs go in parallel; the report does not depend
// on how they were scheduled.
func Compare(sc Scenario, opts Options) (*Report, error) {
	algs, err := sc.prepare(opts)
	if err != nil {
		return nil, err
	}
	if sc.hasFeatures() && !opts.NoBaseline {
		algs = withBaselines(algs, sc.BaselineSuffix())
	}
	runs, err := opts.runs()
	if err != nil {
		return nil, err
	}
	if err := sc.work(algs, runs).Check(opts.MaxWork); err != nil {
		return nil, err
	}
	par := opts.Parallel
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	seeds := make([]uint64, runs)
	for k := range seeds {
		seeds[k] = ReplicationSeed(sc.Seed, k)
	}
	results := make([][]*Result, len(algs)) // by algorithm, then replication
	errs := make([]error, len(algs)*runs)
	prog := newProgressSum(len(algs)*runs, opts.Progress)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, a := range algs {
		results[i] = make([]*Result, runs)
		for k := range runs {
			job := i*runs + k
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				rs := sc
				rs.Seed = seeds[k]
				o := opts
				o.Progress = prog.job(job)
				results[i][k], errs[job] = run1(&rs, a, o)
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	rep := &Report{
		Scenario: sc.Name, Description: sc.Description, Seed: sc.Seed,
		Duration: sc.Duration, Drain: sc.Drain, Pods: sc.Deployment.Replicas, Proxies: sc.Proxies.Replicas, Timeout: sc.Proxies.Timeout,
		Rate: sc.Workload.Rate, Runs: runs, Seeds: seeds,
	}
	for i := range algs {
		rep.Results = append(rep.Results, results[i][0])
	}
	rep.Summary = summarize(results)
	rep.Notes = notes(rep, algs, results)
	return rep, nil
}

func (o Options) runs() (int, error) {
	switch {
	case o.Runs == 0:
		return 1, nil
	case o.Runs < 0 || o.Runs > MaxRuns:
		return 0, fieldErr("runs", "must be between 1 and %d, got %d", MaxRuns, o.Runs)
	}
	return o.Runs, nil
}

// progressSum adds up the progress of many runs into one fraction.
type progressSum struct {
	mu   sync.Mutex
	done []float64
	sum  float64
	out  func(float64)
}

func newProgressSum(jobs int, out func(float64)) *progressSum {
	return &progressSum{done: make([]float64, jobs), out: out}
}

// job returns the progress callback of job i, or nil when nobody listens.
func (p *progressSum) job(i int) func(float64) {
	if p.out == nil {
		return nil
	}
	return func(f float64) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.sum += f - p.done[i]
		p.done[i] = f
		p.out(p.sum / float64(len(p.done)))
	}
}

// hasFeatures reports whether the scenario turns on any proxy feature a
// baseline run leaves out.
func (s *Scenario) hasFeatures() bool {
	px := &s.Proxies
	return s.health != nil || px.SessionAffinity != nil || px.TrafficDistribution != "" || px.ZoneAwareRouting != nil
}

// BaselineSuffix ends the name of an algorithm's baseline run, the same
// algorithm without the scenario's proxy features, and names them: " (no
// health)", " (no affinity)", " (no zone routing)", or a list of them.
// It is empty for a scenario without any.
func (s *Scenario) BaselineSuffix() string {
	var off []string
	if hc, _ := s.Proxies.healthConfig(); s.health != nil || hc != nil {
		off = append(off, "health")
	}
	if s.Proxies.SessionAffinity != nil {
		off = append(off, "affinity")
	}
	if s.Proxies.TrafficDistribution != "" || s.Proxies.ZoneAwareRouting != nil {
		off = append(off, "zone routing")
	}
	if len(off) == 0 {
		return ""
	}
	return " (no " + strings.Join(off, ", ") + ")"
}

// withBaselines returns algs with each one's baseline after it.
func withBaselines(algs []Algorithm, suffix string) []Algorithm {
	out := make([]Algorithm, 0, 2*len(algs))
	for _, a := range algs {
		out = append(out, a)
		if !a.Baseline {
			b := a
			b.Name += suffix
			b.Baseline = true
			out = append(out, b)
		}
	}
	return out
}
