package sim

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/lbkit/lbkit/sim/trace"
)

// ErrTooBig is wrapped by the error Compare returns for a run whose
// estimated work is above Options.MaxWork.
var ErrTooBig = errors.New("sim: run too big")

// DefaultMaxWork is the work Compare accepts when Options.MaxWork is zero:
// about five minutes on a two-core machine.
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
	// crashes, scale steps, trace events and endpoint updates, and the
	// periodic samples over every pod.
	Churn float64 `json:"churn"`
	// Held is the number of requests one run may hold in queues at once
	// when the offered load exceeds the nominal capacity of the pods.
	Held float64 `json:"held"`
	// Parts names what the work is made of, largest first, in words.
	Parts []string `json:"parts"`
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
	algs, err := sc.prepare()
	if err != nil {
		return Work{}, err
	}
	runs, err := opts.runs()
	if err != nil {
		return Work{}, err
	}
	return sc.work(len(algs) * runs), nil
}

type part struct {
	what string
	n    float64
}

// work estimates a prepared scenario's work over n runs.
func (sc *Scenario) work(n int) Work {
	d := sc.Duration.Std()
	w := &sc.Workload
	requests := w.expected(d, sc.meanEndpoints()) * max(w.Sessions.Requests, 1)

	pods := float64(sc.Deployment.Replicas)
	for _, c := range sc.Churn {
		if c.Scale != nil {
			pods = max(pods, float64(c.Scale.Replicas))
		}
	}
	tr := traceStats(sc.TraceEvents)
	pods = max(pods, float64(tr.peak))

	var parts []part
	add := func(what string, x float64) { parts = append(parts, part{what, x}) }
	add(fmt.Sprintf("%.3g requests (%v at %s)", requests, d, rateText(w)), requests)
	samples := float64(d/sc.Window.Std()) * 11 // ten samples and a window close
	add(fmt.Sprintf("%.3g samples of %g pods", samples, pods), samples*pods/4)
	for _, c := range sc.Churn {
		switch {
		case c.Crashes != nil:
			until := c.Crashes.Until.Std()
			if until == 0 {
				until = d
			}
			span := max(until-c.At.Std(), 0)
			crashes := pods * float64(span) / float64(c.Crashes.MTBF.Std())
			add(fmt.Sprintf("%.3g pod crashes (mtbf %v)", crashes, c.Crashes.MTBF), crashes*(20+pods/4))
		case c.Scale != nil:
			steps := 1.0
			if c.Scale.Step > 0 {
				steps = math.Ceil(math.Abs(float64(c.Scale.Replicas)-float64(sc.Deployment.Replicas)) / float64(c.Scale.Step))
			}
			add(fmt.Sprintf("%.3g scale steps over up to %g pods", steps, pods), steps*pods)
		case c.RollingUpdate != nil, c.DrainZone != nil:
			add("a rollout", pods*pods)
		}
	}
	if len(sc.TraceEvents) > 0 {
		span := time.Duration(float64(sc.TraceEvents[len(sc.TraceEvents)-1].At-sc.TraceEvents[0].At) / sc.TraceSpeed)
		add(fmt.Sprintf("%d trace events over %v", len(sc.TraceEvents), span.Round(time.Second)),
			float64(len(sc.TraceEvents))*float64(sc.Proxies.Replicas)*pods/10)
	}

	var churn float64
	for _, p := range parts[1:] {
		churn += p.n
	}
	runs := float64(n)
	work := Work{Runs: n, Requests: requests * runs, Churn: churn * runs}
	capacity := pods * float64(sc.Deployment.Template.Workers) / sc.Deployment.Template.ServiceTime.Mean.Std().Seconds()
	if peak := peakRate(w); peak > capacity && sc.Deployment.Template.QueueLimit == 0 && w.RatePerEndpoint == 0 {
		work.Held = (peak - capacity) * d.Seconds()
	}
	for len(parts) > 0 {
		big := 0
		for i, p := range parts {
			if p.n > parts[big].n {
				big = i
			}
		}
		if parts[big].n > 0 {
			work.Parts = append(work.Parts, parts[big].what)
		}
		parts = append(parts[:big], parts[big+1:]...)
	}
	return work
}

// Check refuses work above max (DefaultMaxWork when zero), or a run that
// would hold too many requests in memory, saying what is too big.
func (w Work) Check(maxWork float64) error {
	if maxWork <= 0 {
		maxWork = DefaultMaxWork
	}
	if w.Total() > maxWork {
		return fmt.Errorf("%w: about %.3g simulated requests' worth over %d runs (%s), some %v on %d cores, above the limit of %.3g; shorten the run, lower the rate, run fewer algorithms or replications, or raise the limit (--max-work)",
			ErrTooBig, w.Total(), w.Runs, strings.Join(w.Parts, ", "), w.Time(runtime.GOMAXPROCS(0)).Round(time.Second), runtime.GOMAXPROCS(0), maxWork)
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

// traceInfo is what the work estimate and the default replay rate need
// to know of a trace.
type traceInfo struct {
	peak int     // the most endpoints ready at once
	mean float64 // the time-weighted mean of the endpoints ready
}

func traceStats(events []trace.Event) traceInfo {
	ready := map[string]bool{}
	var info traceInfo
	var area float64
	for i, ev := range events {
		if i > 0 {
			area += float64(len(ready)) * (ev.At - events[i-1].At).Seconds()
		}
		switch ev.Kind {
		case trace.Ready:
			ready[ev.Endpoint] = true
		case trace.Unready, trace.Remove:
			delete(ready, ev.Endpoint)
		}
		info.peak = max(info.peak, len(ready))
	}
	if len(events) == 0 {
		return info
	}
	if span := (events[len(events)-1].At - events[0].At).Seconds(); span > 0 {
		info.mean = area / span
	} else {
		info.mean = float64(len(ready))
	}
	return info
}
