package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// column is one column of the summary, in the table and in CSV.
type column struct {
	head  string // table heading
	name  string // CSV heading
	table func(*Result) string
	csv   func(*Result) string
}

func ms(d Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func f3(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }

func opt(p *float64, format func(float64) string) string {
	if p == nil {
		return "-"
	}
	return format(*p)
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 2, 64) + "%" }

func raw(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

func failedFrac(r *Result) float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Failed) / float64(r.Requests)
}

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

func tableKiB(r *Result) string {
	if r.TableBytes == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(r.TableBytes)/1024, 'f', 1, 64)
}

func pickNs(r *Result) string {
	if r.PickNanos == 0 {
		return "-"
	}
	return strconv.FormatFloat(r.PickNanos, 'f', 1, 64)
}

var columns = []column{
	{"algorithm", "algorithm", func(r *Result) string { return r.Algorithm }, func(r *Result) string { return r.Algorithm }},
	{"requests", "requests", func(r *Result) string { return strconv.FormatInt(r.Requests, 10) }, func(r *Result) string { return strconv.FormatInt(r.Requests, 10) }},
	{"failed", "failed_fraction", func(r *Result) string { return pct(failedFrac(r)) }, func(r *Result) string { return raw(failedFrac(r)) }},
	{"p50 ms", "p50_ms", func(r *Result) string { return ms(r.Latency.P50) }, func(r *Result) string { return ms(r.Latency.P50) }},
	{"p99 ms", "p99_ms", func(r *Result) string { return ms(r.Latency.P99) }, func(r *Result) string { return ms(r.Latency.P99) }},
	{"p99.9 ms", "p999_ms", func(r *Result) string { return ms(r.Latency.P999) }, func(r *Result) string { return ms(r.Latency.P999) }},
	{"req peak/mean", "request_peak_to_mean", func(r *Result) string { return f3(r.RequestSkew.PeakToMean) }, func(r *Result) string { return raw(r.RequestSkew.PeakToMean) }},
	{"req CV", "request_cv", func(r *Result) string { return f3(r.RequestSkew.CV) }, func(r *Result) string { return raw(r.RequestSkew.CV) }},
	{"in-flight peak/mean", "inflight_peak_to_mean", func(r *Result) string { return f3(r.InFlightSkew.PeakToMean) }, func(r *Result) string { return raw(r.InFlightSkew.PeakToMean) }},
	{"key moves", "keys_moved", func(r *Result) string { return opt(moved(r), f3) }, func(r *Result) string { return opt(moved(r), raw) }},
	{"x optimum", "keys_moved_ratio", func(r *Result) string { return opt(ratio(r), f3) }, func(r *Result) string { return opt(ratio(r), raw) }},
	{"session moves", "sessions_moved", func(r *Result) string { return opt(sessions(r), f3) }, func(r *Result) string { return opt(sessions(r), raw) }},
	{"agreement", "agreement", func(r *Result) string { return opt(r.Agreement, pct) }, func(r *Result) string { return opt(r.Agreement, raw) }},
	{"stickiness", "stickiness", func(r *Result) string { return opt(r.Stickiness, pct) }, func(r *Result) string { return opt(r.Stickiness, raw) }},
	{"pick ns", "pick_ns", pickNs, func(r *Result) string { return strconv.FormatFloat(r.PickNanos, 'f', 1, 64) }},
	{"table KiB", "table_bytes", tableKiB, func(r *Result) string { return strconv.Itoa(r.TableBytes) }},
}

// WriteTable writes the comparison as an aligned text table, with a
// header saying what was run and a legend.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scenario %s: %s\n", rep.Scenario, rep.Description)
	fmt.Fprintf(w, "%v simulated, seed %d, %d proxies\n\n", rep.Duration, rep.Seed, rep.Proxies)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range columns {
		fmt.Fprint(tw, c.head, "\t")
	}
	fmt.Fprintln(tw)
	for _, r := range rep.Results {
		for _, c := range columns {
			fmt.Fprint(tw, c.table(r), "\t")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, `
failed: requests that failed (refused by a gone pod, killed in flight, queue full).
req peak/mean, req CV: spread of each pod's request rate while in the endpoint set (1 and 0 are even).
in-flight peak/mean: mean over samples of the busiest pod's requests held over the mean.
key moves: how many times a key changed pod over the run, on average (the fraction of the key space each
  endpoint update remapped, summed); x optimum: that over the least any algorithm must move.
session moves: the same for live sessions. agreement: keys every proxy routes alike.
stickiness: session requests served by the same pod as the one before. '-': does not apply.
pick ns: measured wall time of one Picker.Pick in the run's state (median of timed batches).
table KiB: memory of one proxy's lookup table (hash pickers).
`)
	return err
}

// WriteJSON writes the whole report, windows and events included, as
// indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteCSV writes one row per algorithm with the summary's columns, in
// plain numbers (milliseconds, fractions).
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"scenario", "seed"}
	for _, c := range columns {
		head = append(head, c.name)
	}
	_ = cw.Write(head)
	for _, r := range rep.Results {
		row := []string{rep.Scenario, strconv.FormatUint(rep.Seed, 10)}
		for _, c := range columns {
			row = append(row, c.csv(r))
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
	_ = cw.Write([]string{"algorithm", "start_s", "requests", "succeeded", "failed", "mean_ms", "p99_ms", "pods",
		"request_peak_to_mean", "request_cv", "inflight_peak_to_mean", "agreement"})
	for _, r := range rep.Results {
		for _, win := range r.Windows {
			_ = cw.Write([]string{r.Algorithm, raw(win.Start.Std().Seconds()), strconv.FormatInt(win.Requests, 10),
				strconv.FormatInt(win.Succeeded, 10), strconv.FormatInt(win.Failed, 10), ms(win.Mean), ms(win.P99),
				strconv.Itoa(win.Pods), raw(win.RequestSkew.PeakToMean), raw(win.RequestSkew.CV),
				raw(win.InFlightSkew.PeakToMean), opt(win.Agreement, raw)})
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
			_ = cw.Write([]string{r.Algorithm, raw(e.At.Std().Seconds()), strconv.Itoa(e.Proxy), strconv.Itoa(e.Endpoints),
				raw(e.KeysMoved), raw(e.Optimum), opt(e.SessionsMoved, raw)})
		}
	}
	cw.Flush()
	return cw.Error()
}
