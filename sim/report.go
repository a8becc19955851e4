package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func ms(d Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

func opt(p *float64, format func(float64) string) string {
	if p == nil {
		return ""
	}
	return format(*p)
}

// raw writes a number for CSV in full precision.
func raw(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// seconds writes a time for CSV, in seconds to the nanosecond.
func seconds(d Duration) string { return strconv.FormatFloat(d.Std().Seconds(), 'f', -1, 64) }

func moved(r *Result) *float64 {
	if r.Disruption == nil {
		return nil
	}
	return &r.Disruption.KeysMoved
}

func ratio(r *Result) *float64 {
	if r.Disruption == nil || r.Disruption.Optimum == 0 {
		return nil
	}
	return &r.Disruption.Ratio
}

func sessions(r *Result) *float64 {
	if r.Disruption == nil {
		return nil
	}
	return r.Disruption.SessionsMoved
}

// cell writes one estimate for the table: the mean, its interval, and a
// mark: '*' the best, '~' not significantly different from it; a lower
// bound reads ">= mean".
func cell(m Metric, e *Estimate, runs int) string {
	if e == nil {
		return "-"
	}
	if e.AtLeast {
		return ">=" + m.Format(e.Mean) + "  "
	}
	s := m.Format(e.Mean)
	if runs > 1 && (m.Better != 0 || e.CI95 > 0) { // a constant (table KiB) needs no interval
		s += " ±" + strings.TrimSuffix(m.Format(e.CI95), "%")
	}
	switch {
	case e.Best:
		s += " *"
	case e.Tie:
		s += " ~"
	default:
		s += "  "
	}
	return s
}

// WriteTable writes the comparison as two aligned text tables (latency
// and failures; spread and disruption), with a header saying what was
// run, the notes, and a legend.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scenario %s: %s\n", rep.Scenario, rep.Description)
	fmt.Fprintf(w, "%v simulated (then up to %v to drain), %d proxies, ", rep.Duration, rep.Drain, rep.Proxies)
	if rep.Runs == 1 {
		fmt.Fprintf(w, "1 run, seed %d", rep.Seed)
	} else {
		fmt.Fprintf(w, "%d runs from seed %d, mean ±95%% interval", rep.Runs, rep.Seed)
	}
	if len(rep.Results) > 0 && rep.Results[0].Load > 0 {
		fmt.Fprintf(w, ", offered load %.0f%% of nominal capacity", 100*rep.Results[0].Load)
	}
	fmt.Fprintln(w)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "NOTE %s\n", n)
	}
	shown := func(m Metric, group int) bool {
		if m.Group != group {
			return false
		}
		if !m.Optional {
			return true
		}
		for _, s := range rep.Summary {
			if s.Metrics[m.Name] != nil {
				return true
			}
		}
		return false
	}
	for group := range 2 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "algorithm\t")
		for _, m := range Metrics {
			if shown(m, group) {
				fmt.Fprint(tw, m.Head, "\t")
			}
		}
		fmt.Fprintln(tw)
		for _, s := range rep.Summary {
			fmt.Fprint(tw, s.Algorithm, "\t")
			for _, m := range Metrics {
				if shown(m, group) {
					fmt.Fprint(tw, cell(m, s.Metrics[m.Name], rep.Runs), "\t")
				}
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	marks := ""
	if rep.Runs > 1 {
		marks = fmt.Sprintf(`±: half-width of the 95%% confidence interval of the mean over the %d runs.
*: the best in its column; ~: not significantly different from the best (paired t-test over the runs,
  which share their arrivals, keys, service times and churn, at the 5%% level); unmarked: worse.
`, rep.Runs)
	}
	for _, m := range Metrics {
		if m.Name == "zone_peak_to_mean" && shown(m, m.Group) {
			marks += `zone peak/mean: the busiest zone's requests per pod (per unit of weight and time in the set) over all zones'.
`
		}
		if m.Name == "sessions_broken_ratio" && shown(m, m.Group) {
			marks += `broken/change: session requests served by another pod than the one before, per endpoint-set change;
  broken x opt: those over the ones whose pod had left, crashed or was faulty (which must move).
`
		}
		if m.Name == "to_faulty_fraction" && shown(m, m.Group) {
			marks += `to faulty: requests sent to a pod that was failing or hanging (a fault) at the time, over the requests;
  'failed' counts their error answers ('error-answer') and timeouts too.
`
		}
	}
	_, err := fmt.Fprint(w, `
failed: requests that failed (refused by a gone pod, killed in flight, queue full) or never finished.
unfinished: requests still in flight when the drain after the run ended; '>=': a lower bound they make.
req peak/mean, req CV: spread of each pod's request rate while in the endpoint set (1 and 0 are even).
in-flight peak/mean: the busiest pod's requests held (in service and queued, averaged over each window)
  over the mean, averaged over windows.
key moves: how many times a key changed pod over the run, on average (the fraction of the key space each
  endpoint update remapped, summed); x optimum: that over what a perfectly balanced algorithm must move.
session moves: the same for live sessions. agreement: keys every proxy routes alike.
stickiness: session requests served by the same pod as the one before. '-': does not apply.
pick ns: measured wall time of one Picker.Pick in the run's state (median of timed batches).
table KiB: memory of one proxy's lookup table (hash pickers).
`+marks)
	return err
}

// WriteJSON writes the whole report, windows and events included, as
// indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteCSV writes one row per algorithm: for every metric its mean, the
// half-width of its 95% interval, and how it compares with the best
// ("best", "tie", "worse", or empty), in plain numbers (milliseconds,
// fractions). A mean that is a lower bound has "at_least" there.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"scenario", "seed", "runs", "algorithm"}
	for _, m := range Metrics {
		head = append(head, m.Name, m.Name+"_ci95", m.Name+"_vs_best")
	}
	_ = cw.Write(head)
	for _, s := range rep.Summary {
		row := []string{rep.Scenario, strconv.FormatUint(rep.Seed, 10), strconv.Itoa(rep.Runs), s.Algorithm}
		for _, m := range Metrics {
			e := s.Metrics[m.Name]
			if e == nil {
				row = append(row, "", "", "")
				continue
			}
			vs := ""
			switch {
			case e.AtLeast:
				vs = "at_least"
			case e.Best:
				vs = "best"
			case e.Tie:
				vs = "tie"
			case m.Better != 0 && rep.Runs > 1:
				vs = "worse"
			}
			row = append(row, raw(e.Mean), raw(e.CI95), vs)
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// WriteWindowsCSV writes every algorithm's per-window figures, one row a
// window, for plotting elsewhere.
func (rep *Report) WriteWindowsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"algorithm", "start_s", "end_s", "requests", "succeeded", "failed", "mean_ms", "p99_ms", "pods",
		"request_peak_to_mean", "request_cv", "inflight_peak_to_mean", "agreement", "offered_per_s", "capacity_per_s"})
	for _, r := range rep.Results {
		for _, win := range r.Windows {
			_ = cw.Write([]string{r.Algorithm, seconds(win.Start), seconds(win.End), strconv.FormatInt(win.Requests, 10),
				strconv.FormatInt(win.Succeeded, 10), strconv.FormatInt(win.Failed, 10), ms(win.Mean), ms(win.P99),
				strconv.Itoa(win.Pods), raw(win.RequestSkew.PeakToMean), raw(win.RequestSkew.CV),
				raw(win.InFlightSkew.PeakToMean), opt(win.Agreement, raw), raw(win.Offered), raw(win.Capacity)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteEventsCSV writes every measured endpoint update and its disruption.
func (rep *Report) WriteEventsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"algorithm", "at_s", "proxy", "endpoints", "keys_moved", "optimum", "sessions_moved"})
	for _, r := range rep.Results {
		for _, e := range r.Events {
			_ = cw.Write([]string{r.Algorithm, seconds(e.At), strconv.Itoa(e.Proxy), strconv.Itoa(e.Endpoints),
				raw(e.KeysMoved), raw(e.Optimum), opt(e.SessionsMoved, raw)})
		}
	}
	cw.Flush()
	return cw.Error()
}
