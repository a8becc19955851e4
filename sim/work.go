package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// ErrTooBig is wrapped by the error Compare returns for a run whose
// estimated work is above Options.MaxWork.
var ErrTooBig = errors.New("sim: run too big")

// DefaultMaxWork is the work Compare accepts when Options.MaxWork is zero:
// about five minutes on two cores at the rate the estimate assumes
// (simRate).
const DefaultMaxWork = 1.5e9

// maxHeld bounds the requests a run may be expected to hold in queues at
// once (about 100 bytes each).
const maxHeld = 2e7

// simRate is the simulated requests a second one core runs, for the time
// estimate: BenchmarkSim's figure, rounded down.
const simRate = 2.5e6

// Work is an estimate, made before a comparison runs, of what it will do.
// Counts are over all algorithms and replications.
type Work struct {
	// Runs is the number of runs: algorithms x replications.
	Runs int `json:"runs"`
	// Requests is the mean number of requests the runs simulate.
	Requests float64 `json:"requests"`
	// Churn is the work of everything else, in requests' worth: pod
	// crashes, scale steps, trace events, endpoint updates, and the window
	// closes over every pod.
	Churn float64 `json:"churn"`
	// Held is the number of requests one run may hold in queues at once
	// when the offered load exceeds the nominal capacity of the pods.
	Held float64 `json:"held"`
	// Hung is the number of requests one run may hold on pods that hang
	// (FaultHang), until the proxies' timeout or the end.
	Hung float64 `json:"hung,omitempty"`
	// Parts names what the work is made of, largest first, in words.
	Parts []string `json:"parts"`
	// Replay says the work replays a trace, which can be played faster.
	Replay bool `json:"replay,omitempty"`
}

// Total is the work in simulated requests' worth.
func (w Work) Total() float64 { return w.Requests + w.Churn }

// Time is the estimated wall time of the work on the cores it may use.
func (w Work) Time(cores int) time.Duration {
	cores = max(min(cores, w.Runs), 1)
	return time.Duration(w.Total() / simRate / float64(cores) * float64(time.Second))
}

// EstimateWork estimates, without running anything, the work Compare
// would do for sc and opts.
func EstimateWork(sc Scenario, opts Options) (Work, error) {
	algs, err := sc.prepare(opts)
	if err != nil {
		return Work{}, err
	}
	if sc.hasFeatures() && !opts.NoBaseline {
		algs = withBaselines(algs, sc.BaselineSuffix())
	}
	runs, err := opts.runs()
	if err != nil {
		return Work{}, err
	}
	return sc.work(algs, runs), nil
}

type part struct {
	what string
	n    float64
}

// work estimates a prepared scenario's work, runs times over algs.
func (sc *Scenario) work(algs []Algorithm, runs int) Work {
	d := sc.Duration.Std()
	w := &sc.Workload
	requests := w.expected(d, sc.meanEndpoints()) * max(w.Sessions.Requests, 1)

	pods := float64(sc.Deployment.Replicas)
	for _, c := range sc.Churn {
		if c.Scale != nil {
			pods = max(pods, float64(c.Scale.Replicas))
		}
	}
	tr, replay := sc.traceInfo()
	pods = max(pods, float64(tr.PeakReady))

	// What one run does, in requests' worth, apart from the endpoint
	// updates; and how many times the endpoint set changes.
	var parts []part
	add := func(what string, x float64) { parts = append(parts, part{what, x}) }
	add(fmt.Sprintf("%.3g requests (%v at %s)", requests, d.Round(time.Second), rateText(w)), requests)
	windows := float64(d / sc.Window.Std())
	add(fmt.Sprintf("%.3g windows over %g pods", windows, pods), windows*pods)
	var changes, hungShare float64 // hungShare: the pods hanging, times the time they hold requests, over the run
	hold := func(share float64, from, to time.Duration) {
		if span := max(min(to, d)-from, 0); span > 0 {
			if t := sc.Proxies.Timeout.Std(); t > 0 {
				span = min(span, t) // a timeout lets go of what a hung pod holds
			}
			hungShare += share * float64(span) / float64(d)
		}
	}
	for _, c := range sc.Churn {
		switch {
		case c.Faults != nil:
			until := c.Faults.Until.Std()
			if until == 0 {
				until = d
			}
			span := max(until-c.At.Std(), 0)
			faults := pods * float64(span) / float64(c.Faults.MTBF.Std())
			add(fmt.Sprintf("%.3g pod faults (mtbf %v)", faults, c.Faults.MTBF), faults*20)
			if c.Faults.Kind == FaultHang {
				down := float64(c.Faults.Duration.Mean)
				hold(down/(down+float64(c.Faults.MTBF)), c.At.Std(), d)
			}
		case c.Fault != nil:
			if c.Fault.Kind == FaultHang {
				n, _ := c.Fault.Pods.resolve(int(pods), true, "1")
				end := d
				if c.Fault.Duration > 0 {
					end = min(c.At.Std()+c.Fault.Duration.Std(), d)
				}
				hold(min(float64(n)/max(pods, 1), 1), c.At.Std(), end)
			}
		case c.Crashes != nil:
			until := c.Crashes.Until.Std()
			if until == 0 {
				until = d
			}
			span := max(until-c.At.Std(), 0)
			crashes := pods * float64(span) / float64(c.Crashes.MTBF.Std())
			add(fmt.Sprintf("%.3g pod crashes (mtbf %v)", crashes, c.Crashes.MTBF), crashes*(20+pods/4))
			changes += 2 * crashes
		case c.Scale != nil:
			delta := math.Abs(float64(c.Scale.Replicas) - float64(sc.Deployment.Replicas))
			steps := 1.0
			if c.Scale.Step > 0 {
				steps = math.Ceil(delta / float64(c.Scale.Step))
			}
			add(fmt.Sprintf("%.3g scale steps over up to %g pods", steps, pods), steps*pods)
			changes += delta
		case c.RollingUpdate != nil, c.DrainZone != nil:
			add("a rollout", pods*pods)
			changes += 2 * pods
		}
	}
	if replay {
		span := time.Duration(float64(tr.Last-tr.First) / sc.TraceSpeed)
		add(fmt.Sprintf("%d trace events over %v", tr.Events, span.Round(time.Second)), float64(tr.Events)*pods/10)
		changes += float64(tr.Instants)
	}
	if h := sc.health; h != nil {
		if a := h.Active; a != nil {
			// Every proxy checks every pod every interval, drain included.
			probes := float64(sc.Proxies.Replicas) * pods * float64(d+sc.Drain.Std()) / float64(a.WithDefaults().Interval)
			add(fmt.Sprintf("%.3g active checks", probes), 2*probes)
		}
		if h.SlowStart != nil {
			// A pod that joins ramps up in 20 steps, each a rebuild of
			// every proxy's picker (two tables for the hash pickers).
			changes += changes / 2 * 2 * 20
		}
	}
	var churn float64 // a run's work but for the requests and the updates
	for _, p := range parts[1:] {
		churn += p.n
	}

	// Each endpoint change makes the cluster publish the set (a copy of
	// it) and every proxy update its Balancer, and a hash picker's
	// disruption be measured on the sampled keys and sessions: the update
	// is timed here, once, on a set of the largest size (the estimate only
	// decides what to refuse and what to say).
	updates := changes * float64(sc.Proxies.Replicas)
	churn += changes * pods / 4 // publishing: the set copied
	work := Work{Runs: len(algs) * runs, Requests: requests * float64(len(algs)*runs), Replay: replay}
	var slowest string
	var slowestCost float64
	for _, a := range algs {
		cost := updateCost(a, int(pods))
		if a.Consistent {
			cost += 4 * 4096 / 20 // 4096 keys and as many sessions, old and new picker, a pick 1/20 of a request
		}
		if cost > slowestCost {
			slowest, slowestCost = a.Name, cost
		}
		work.Churn += (churn + updates*cost) * float64(runs)
	}
	if updates > 0 {
		add(fmt.Sprintf("%.3g endpoint updates (%s: %.3g requests' worth each)", updates, slowest, slowestCost), updates*slowestCost)
	}
	capacity := pods * float64(sc.Deployment.Template.Workers) / sc.Deployment.Template.ServiceTime.Mean.Std().Seconds()
	if peak := peakRate(w); peak > capacity && sc.Deployment.Template.QueueLimit == 0 && w.RatePerEndpoint == 0 {
		work.Held = (peak - capacity) * d.Seconds()
	}
	work.Hung = requests * hungShare
	slices.SortStableFunc(parts, func(a, b part) int { return cmp.Compare(b.n, a.n) })
	for _, p := range parts {
		if p.n > 0 {
			work.Parts = append(work.Parts, p.what)
		}
	}
	return work
}

// updateCost times, on the wall clock, how long a Balancer running alg
// takes to move between two sets of n endpoints that differ by one (up to
// 500, scaled linearly beyond): the diff, the build and the swap, in
// requests' worth. What it measures never feeds back into a run.
func updateCost(a Algorithm, n int) float64 {
	if n <= 0 {
		return 0
	}
	m := min(n, 500)
	sets := [2][]balancer.Backend{make([]balancer.Backend, m), make([]balancer.Backend, m)}
	for i := range m {
		id := fmt.Sprintf("10.%d.%d.%d:8080", i>>16&0xff, i>>8&0xff, i&0xff)
		sets[0][i] = balancer.Backend{ID: id}
		sets[1][i] = balancer.Backend{ID: id}
	}
	sets[1][m-1].ID = "10.255.255.255:8080"
	bal := balancer.New(a.New(balancer.NewSource(1)))
	if bal.Update(sets[0]) != nil {
		return 0
	}
	best := time.Duration(math.MaxInt64)
	for k := range 4 {
		start := time.Now()
		if bal.Update(sets[(k+1)%2]) != nil {
			return 0
		}
		best = min(best, time.Since(start))
	}
	return best.Seconds() * simRate * float64(n) / float64(m)
}

// Check refuses work above max (DefaultMaxWork when zero), or a run that
// would hold too many requests in memory, saying what is too big.
func (w Work) Check(maxWork float64) error {
	if maxWork <= 0 {
		maxWork = DefaultMaxWork
	}
	if w.Total() > maxWork {
		cores := max(min(runtime.GOMAXPROCS(0), w.Runs), 1)
		faster := ""
		if w.Replay {
			faster = "; a long trace can be replayed faster than recorded (--speed, or traceSpeed in a scenario)"
		}
		return fmt.Errorf("%w: about %.3g simulated requests' worth over %d runs (%s), some %v on %d cores, above the limit of %.3g; shorten the run, lower the rate, run fewer algorithms or replications, or raise the limit (--max-work)%s",
			ErrTooBig, w.Total(), w.Runs, strings.Join(w.Parts, ", "), w.Time(cores).Round(time.Second), cores, maxWork, faster)
	}
	if w.Hung > maxHeld {
		return fmt.Errorf("%w: pods that hang would hold about %.3g requests in a run (some %.0f MB); set a timeout (proxies.timeout), hang fewer pods or for less time, or lower the rate",
			ErrTooBig, w.Hung, w.Hung*100/1e6)
	}
	if w.Held > maxHeld {
		return fmt.Errorf("%w: the offered load exceeds the pods' capacity by so much that a run would hold about %.3g requests in its queues (some %.0f MB); bound the queues (deployment.template.queueLimit), lower the rate or add pods",
			ErrTooBig, w.Held, w.Held*100/1e6)
	}
	return nil
}

func rateText(w *Workload) string {
	if w.RatePerEndpoint > 0 {
		return fmt.Sprintf("%g req/s an endpoint", w.RatePerEndpoint)
	}
	if len(w.Steps) == 0 {
		return fmt.Sprintf("%g req/s", w.Rate)
	}
	return fmt.Sprintf("up to %g req/s", peakRate(w))
}

func peakRate(w *Workload) float64 {
	peak := w.Rate
	for _, s := range w.Steps {
		peak = max(peak, s.Rate)
	}
	return peak
}
