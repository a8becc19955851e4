package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/lbkit/lbkit/maglev"
)

// Summary is one algorithm's figures over all the replications of a
// comparison.
type Summary struct {
	Algorithm string `json:"algorithm"`
	// Metrics are keyed by the names of Metrics (and of the CSV columns):
	// "p99_ms", "failed_fraction", ... A metric that does not apply to the
	// algorithm (key moves of round robin) is absent.
	Metrics map[string]*Estimate `json:"metrics"`
}

// Estimate is one figure over the replications.
type Estimate struct {
	// Mean is the mean over the runs; CI95 the half-width of its 95%
	// confidence interval (Student's t over the runs), zero with one run.
	Mean float64 `json:"mean"`
	CI95 float64 `json:"ci95"`
	// Values are the runs' figures, replication by replication.
	Values []float64 `json:"values"`
	// AtLeast says some run's figure was only a lower bound (a percentile
	// that unfinished requests reach), so the mean is one too.
	AtLeast bool `json:"atLeast,omitempty"`
	// Best marks the best mean among the algorithms, for metrics where
	// lower or higher is better. Tie marks a mean that is not
	// significantly different from the best: a paired t-test over the
	// replications (common random numbers) at the 5% level does not tell
	// them apart. Neither is set with one run, or for a bound.
	Best bool `json:"best,omitempty"`
	Tie  bool `json:"tie,omitempty"`
}

// Metric is one figure of a Result that a comparison summarises.
type Metric struct {
	// Name is the key in Summary.Metrics and the CSV column.
	Name string
	// Head is the table heading.
	Head string
	// Better is -1 when lower is better, 1 when higher is, 0 when
	// neither (a count).
	Better int
	// Format writes a value for the table.
	Format func(float64) string
	// Value returns the figure of one run; ok is false when it does not
	// apply, atLeast true when it is a lower bound.
	Value func(*Result) (v float64, ok, atLeast bool)
	// Group is the table the metric appears in: 0 latency and failures,
	// 1 spread and disruption.
	Group int
	// Optional leaves the metric's column out of the table when no
	// algorithm has the figure (to_faulty_fraction without pod faults);
	// the CSV has it always.
	Optional bool
}

func always(f func(*Result) float64) func(*Result) (float64, bool, bool) {
	return func(r *Result) (float64, bool, bool) { return f(r), true, false }
}

func ptr(f func(*Result) *float64) func(*Result) (float64, bool, bool) {
	return func(r *Result) (float64, bool, bool) {
		if p := f(r); p != nil {
			return *p, true, false
		}
		return 0, false, false
	}
}

func latency(name string, f func(Latency) Duration) func(*Result) (float64, bool, bool) {
	return func(r *Result) (float64, bool, bool) {
		return float64(f(r.Latency)) / 1e6, r.Succeeded+r.Unfinished+r.TimedOut > 0, r.Latency.Bound(name)
	}
}

func fixed(digits int) func(float64) string {
	return func(x float64) string { return fmt.Sprintf("%.*f", digits, x) }
}

func percent(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

// Metrics are the figures a comparison summarises, in the order the
// table and the CSV show them.
var Metrics = []Metric{
	{"requests", "requests", 0, fixed(0), always(func(r *Result) float64 { return float64(r.Requests) }), 0, false},
	{"failed_fraction", "failed", -1, percent, always(func(r *Result) float64 { return r.FailureRate }), 0, false},
	{"unfinished_fraction", "unfinished", -1, percent, always(func(r *Result) float64 {
		if r.Requests == 0 {
			return 0
		}
		return float64(r.Unfinished) / float64(r.Requests)
	}), 0, false},
	{"p50_ms", "p50 ms", -1, fixed(1), latency("p50", func(l Latency) Duration { return l.P50 }), 0, false},
	{"p99_ms", "p99 ms", -1, fixed(1), latency("p99", func(l Latency) Duration { return l.P99 }), 0, false},
	{"p999_ms", "p99.9 ms", -1, fixed(1), latency("p999", func(l Latency) Duration { return l.P999 }), 0, false},
	{"pick_ns", "pick ns", -1, fixed(1), func(r *Result) (float64, bool, bool) { return r.PickNanos, r.PickNanos > 0, false }, 0, false},
	{"request_peak_to_mean", "req peak/mean", -1, fixed(3), always(func(r *Result) float64 { return r.RequestSkew.PeakToMean }), 1, false},
	{"request_cv", "req CV", -1, fixed(3), always(func(r *Result) float64 { return r.RequestSkew.CV }), 1, false},
	{"inflight_peak_to_mean", "in-flight peak/mean", -1, fixed(3), always(func(r *Result) float64 { return r.InFlightSkew.PeakToMean }), 1, false},
	{"keys_moved", "key moves", -1, fixed(3), ptr(moved), 1, false},
	{"keys_moved_ratio", "x optimum", -1, fixed(3), ptr(ratio), 1, false},
	{"sessions_moved", "session moves", -1, fixed(3), ptr(sessions), 1, false},
	{"agreement", "agreement", 1, percent, ptr(func(r *Result) *float64 { return r.Agreement }), 1, false},
	{"stickiness", "stickiness", 1, percent, ptr(func(r *Result) *float64 { return r.Stickiness }), 1, false},
	{"table_kib", "table KiB", 0, fixed(1), func(r *Result) (float64, bool, bool) {
		return float64(r.TableBytes) / 1024, r.TableBytes > 0, false
	}, 1, false},
	// Last, so that the CSV's columns before it keep their places.
	{"to_faulty_fraction", "to faulty", -1, percent, func(r *Result) (float64, bool, bool) {
		return float64(r.ToFaulty) / float64(max(r.Requests, 1)), r.Faults > 0, false
	}, 0, true},
	{"cross_zone_fraction", "cross-zone", -1, percent, ptr(func(r *Result) *float64 { return r.CrossZone }), 0, true},
	{"zone_peak_to_mean", "zone peak/mean", -1, fixed(3), func(r *Result) (float64, bool, bool) {
		peak := 0.0
		for _, v := range r.ZoneLoad {
			peak = max(peak, v)
		}
		return peak, len(r.ZoneLoad) > 1 && r.CrossZone != nil, false
	}, 1, true},
	{"sessions_broken_per_change", "broken/change", -1, fixed(1), func(r *Result) (float64, bool, bool) {
		return float64(r.SessionsBroken) / float64(max(r.Changes, 1)), r.Stickiness != nil && r.Changes > 0, false
	}, 1, true},
	{"sessions_broken_ratio", "broken x opt", -1, fixed(2), func(r *Result) (float64, bool, bool) {
		return float64(r.SessionsBroken) / float64(max(r.SessionsForced, 1)), r.Stickiness != nil && r.SessionsForced > 0, false
	}, 1, true},
	{"ejections", "ejections", 0, fixed(1), func(r *Result) (float64, bool, bool) {
		if r.Health == nil {
			return 0, false, false
		}
		return float64(r.Health.Ejections), true, false
	}, 0, true},
	{"detect_s", "detect s", -1, fixed(2), func(r *Result) (float64, bool, bool) {
		if r.Health == nil || r.Health.Detections == 0 {
			return 0, false, false
		}
		return r.Health.DetectMean.Std().Seconds(), true, false
	}, 0, true},
}

// summarize turns the runs, by algorithm then replication, into one
// Summary an algorithm.
func summarize(results [][]*Result) []*Summary {
	out := make([]*Summary, len(results))
	for i, runs := range results {
		out[i] = &Summary{Algorithm: runs[0].Algorithm, Metrics: map[string]*Estimate{}}
		for _, m := range Metrics {
			e := &Estimate{}
			defined := true
			for _, r := range runs {
				v, ok, atLeast := m.Value(r)
				if !ok {
					defined = false
					break
				}
				e.Values = append(e.Values, v)
				e.AtLeast = e.AtLeast || atLeast
			}
			if !defined {
				continue
			}
			e.Mean, e.CI95 = meanCI(e.Values)
			out[i].Metrics[m.Name] = e
		}
	}
	for _, m := range Metrics {
		if m.Better != 0 {
			markBest(out, m)
		}
	}
	return out
}

// meanCI returns the mean of xs and the half-width of its 95% confidence
// interval by Student's t; the half-width is 0 for fewer than two values.
func meanCI(xs []float64) (mean, half float64) {
	n := float64(len(xs))
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / (n - 1))
	return mean, tQuantile(len(xs)-1) * sd / math.Sqrt(n)
}

// tQuantile is the 97.5% quantile of Student's t with df degrees of
// freedom: the factor of a two-sided 95% interval.
func tQuantile(df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(0.975)
}

// markBest marks, for metric m, the algorithm with the best mean and
// those a paired t-test cannot tell from it.
func markBest(sums []*Summary, m Metric) {
	best := -1
	for i, s := range sums {
		e := s.Metrics[m.Name]
		if e == nil || e.AtLeast || len(e.Values) < 2 {
			continue
		}
		if best < 0 || float64(m.Better)*(e.Mean-sums[best].Metrics[m.Name].Mean) > 0 {
			best = i
		}
	}
	if best < 0 {
		return
	}
	b := sums[best].Metrics[m.Name]
	same := true
	for _, s := range sums {
		if e := s.Metrics[m.Name]; e != nil && !slices.Equal(e.Values, b.Values) {
			same = false
		}
	}
	if same {
		return // every algorithm gave the same figures: nothing to rank
	}
	for _, s := range sums {
		e := s.Metrics[m.Name]
		if e == nil || e.AtLeast || len(e.Values) != len(b.Values) {
			continue
		}
		if e.Mean == b.Mean {
			e.Best = true
			continue
		}
		d := make([]float64, len(e.Values))
		for k := range d {
			d[k] = e.Values[k] - b.Values[k]
		}
		mean, half := meanCI(d)
		e.Tie = math.Abs(mean) <= half
	}
}

// nextPrime returns the smallest prime at or above n (n small enough for
// trial division).
func nextPrime(n int) int {
	for ; ; n++ {
		if n < 2 {
			continue
		}
		prime := true
		for d := 2; d*d <= n; d++ {
			if n%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			return n
		}
	}
}

// notes says what the reader of a report must know to trust it.
func notes(rep *Report, algs []Algorithm, results [][]*Result) []string {
	var out []string
	if rep.Runs == 1 {
		out = append(out, "one run: the figures carry no confidence interval, and differences smaller than a run's noise look real; --runs 5 or more gives 95% intervals")
	}
	var overloaded, peak float64
	unfinished, timedOut := map[string]int64{}, map[string]int64{}
	var noRequests []string
	for _, runs := range results {
		for _, r := range runs {
			overloaded = max(overloaded, r.Overloaded)
			peak = max(peak, r.PeakLoad)
			unfinished[r.Algorithm] += r.Unfinished
			timedOut[r.Algorithm] += r.TimedOut
			if r.Requests == 0 && (len(noRequests) == 0 || noRequests[len(noRequests)-1] != r.Algorithm) {
				noRequests = append(noRequests, r.Algorithm)
			}
		}
	}
	if overloaded > 0 {
		out = append(out, fmt.Sprintf("overloaded: the offered load is above the pods' nominal capacity in %.0f%% of the run (at worst %.1fx): queues grow whatever the algorithm, so latency there measures the overload more than the algorithm",
			100*overloaded, peak))
	}
	var un, to []string
	for _, runs := range results {
		a := runs[0].Algorithm
		if n := unfinished[a]; n > 0 {
			un = append(un, fmt.Sprintf("%s %d", a, n))
		}
		if n := timedOut[a]; n > 0 {
			to = append(to, fmt.Sprintf("%s %d", a, n))
		}
	}
	if len(un) > 0 {
		out = append(out, fmt.Sprintf("unfinished: requests still in flight %v after the end (%s, over all runs) count as failed; percentiles they reach are shown as lower bounds (>=)",
			rep.Drain, strings.Join(un, ", ")))
	}
	if len(to) > 0 {
		out = append(out, fmt.Sprintf("timed out: requests the proxies gave up on after %v without an answer (%s, over all runs) count as failed, and in the latency percentiles at %v",
			rep.Timeout, strings.Join(to, ", "), rep.Timeout))
	}
	for i, a := range algs {
		// Asked of the algorithm's own Builder, not of its name: a Maglev
		// of any name, with the table size it was given.
		c, ok := a.New(nil).(maglev.Config)
		if !ok {
			continue
		}
		slots := c.TableSize
		if slots == 0 {
			slots = maglev.DefaultTableSize
		}
		r := results[i][0]
		if n := max(r.MaxEndpoints, rep.Pods); uint64(100*n) > slots {
			out = append(out, fmt.Sprintf("%s: a table of %d slots is small for %d endpoints (the Maglev paper asks for more than 100 a endpoint), so its keys move more and spread less evenly than they would; maglev.Config{TableSize: %d} fits",
				r.Algorithm, slots, n, nextPrime(min(100*n, 5_000_000))))
		}
	}
	var below []string
	for _, s := range rep.Summary {
		if e := s.Metrics["keys_moved_ratio"]; e != nil && e.Mean < 1 {
			below = append(below, fmt.Sprintf("%s %.3f", s.Algorithm, e.Mean))
		}
	}
	if len(below) > 0 {
		out = append(out, fmt.Sprintf("x optimum below 1 (%s): key moves are counted on a sample of keys, and the optimum assumes every endpoint held its exact share; no algorithm moves fewer keys than must move, so read these as at the optimum, within the sample's noise",
			strings.Join(below, ", ")))
	}
	if len(noRequests) > 0 {
		out = append(out, "no requests: "+strings.Join(noRequests, ", ")+" saw no request at all in some run: the workload offers too little for the duration")
	}
	return out
}
