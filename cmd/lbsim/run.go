package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/lbkit/lbkit/sim"
)

// loadScenario reads a scenario file, or a built-in scenario by name;
// progress, if not nil, follows the reading of its trace.
func loadScenario(arg string, progress func(float64)) (sim.Scenario, error) {
	if _, err := os.Stat(arg); err == nil || strings.ContainsAny(arg, `/\.`) {
		return sim.LoadScenarioProgress(arg, progress)
	}
	sc, err := sim.BuiltinScenario(arg)
	var unknown *sim.UnknownNameError
	if errors.As(err, &unknown) {
		return sc, usageError{fmt.Errorf("%q is neither a file nor a built-in scenario (%s)", arg, strings.Join(unknown.Valid, ", "))}
	}
	return sc, err
}

// replayScenario makes a scenario that replays a trace with the pods,
// proxies and workload shape of a base scenario (--scenario, the default
// one unless told). Without --rate the rate follows the trace: --load of
// what each ready pod serves, so that the traffic grows and shrinks with
// the pods as it did when the trace was recorded.
func replayScenario(path string, f *flags, set *pflag.FlagSet) (sim.Scenario, error) {
	if f.proxies < 1 || f.proxies > 1000 {
		return sim.Scenario{}, usageError{fmt.Errorf("--proxies %d: want 1 to 1000 proxies", f.proxies)}
	}
	if set.Changed("rate") && !(f.rate > 0 && f.rate <= 1e8) {
		return sim.Scenario{}, usageError{fmt.Errorf("--rate %g: want a positive number of requests a second, at most 1e8", f.rate)}
	}
	if !(f.load > 0 && f.load <= 10) {
		return sim.Scenario{}, usageError{fmt.Errorf("--load %g: want a fraction of each pod's capacity above 0 (at most 10)", f.load)}
	}
	if !(f.speed >= 1e-3 && f.speed <= 1e9) {
		return sim.Scenario{}, usageError{fmt.Errorf("--speed %g: want a factor between 0.001 and 1e9", f.speed)}
	}
	var dur time.Duration
	if f.duration != "" {
		d, err := sim.ParseDuration(f.duration)
		if err != nil || d <= 0 {
			if err == nil {
				err = errors.New("must be positive")
			}
			return sim.Scenario{}, usageError{fmt.Errorf("--duration: %w", err)}
		}
		dur = d
	}
	base := f.base
	if base == "" {
		base = sim.DefaultScenario
	}
	sc, err := loadScenario(base, nil)
	if err != nil {
		return sim.Scenario{}, err
	}
	tr, err := sim.ReadTraceProgress(path, f.bar.reading())
	if err != nil {
		return sim.Scenario{}, err
	}
	info := tr.Info()
	sc.Name = "replay " + filepath.Base(path)
	sc.Trace, sc.TraceFile, sc.TraceEvents, sc.TraceSpeed = "", tr, nil, f.speed
	sc.Churn = nil
	sc.Deployment.Replicas = 0
	sc.Workload.Steps = nil
	t := sc.Deployment.Template
	perPod := float64(max(t.Workers, 1)) / t.ServiceTime.Mean.Std().Seconds()
	load := fmt.Sprintf("%g req/s", f.rate)
	if set.Changed("rate") {
		sc.Workload.Rate, sc.Workload.RatePerEndpoint = f.rate, 0
	} else {
		sc.Workload.Rate, sc.Workload.RatePerEndpoint = 0, f.load*perPod
		load = fmt.Sprintf("%g req/s a ready pod (%.0f%% of its capacity)", f.load*perPod, 100*f.load)
	}
	if set.Changed("proxies") || f.base == "" {
		sc.Proxies.Replicas = f.proxies
	}
	speed := ""
	if f.speed != 1 {
		speed = fmt.Sprintf(", %gx faster than recorded", f.speed)
	}
	sc.Description = fmt.Sprintf("%d endpoint changes from %s%s at %s through %d proxies, pods of %s",
		info.Events, path, speed, load, sc.Proxies.Replicas, base)
	sc.Duration = sim.Duration(time.Duration(float64(info.Last)/f.speed) + 30*time.Second)
	if dur > 0 {
		sc.Duration = sim.Duration(dur)
	}
	sc.Window = 0
	return sc, nil
}

// execute applies the flags to sc, runs it and writes the report. Every
// flag is checked, and --out made ready, before anything runs.
func execute(cmd *cobra.Command, sc sim.Scenario, f *flags) error {
	if sc.TraceFile != nil {
		defer sc.TraceFile.Close()
	}
	switch f.format {
	case "table", "json", "csv":
	default:
		return usageError{fmt.Errorf("--format %q: want table, json or csv", f.format)}
	}
	if f.runs < 1 || f.runs > sim.MaxRuns {
		return usageError{fmt.Errorf("--runs %d: want 1 to %d replications", f.runs, sim.MaxRuns)}
	}
	if !(f.maxWork > 0) || math.IsInf(f.maxWork, 0) {
		return usageError{fmt.Errorf("--max-work %g: want a positive number", f.maxWork)}
	}
	var algs []sim.Algorithm
	if len(f.algorithms) > 0 {
		var err error
		if algs, err = sim.SelectAlgorithms(f.algorithms); err != nil {
			return usageError{err}
		}
	}
	if cmd.Flags().Changed("seed") {
		sc.Seed = f.seed
	}
	bar := f.bar
	if f.out != "" {
		if err := prepareOut(f.out); err != nil {
			return usageError{fmt.Errorf("--out %s: %w", f.out, err)}
		}
	}
	opts := sim.Options{Algorithms: algs, PickCost: !f.noCost, Runs: f.runs, MaxWork: f.maxWork, NoBaseline: f.noBaseline}
	work, err := sim.EstimateWork(sc, opts)
	if err != nil {
		return err
	}
	if err := work.Check(opts.MaxWork); err != nil {
		return usageError{err}
	}
	if t := work.Time(runtime.GOMAXPROCS(0)); t > 10*time.Second {
		fmt.Fprintf(cmd.ErrOrStderr(), "lbsim: about %.3g simulated requests' worth over %d runs (%s): some %v\n",
			work.Total(), work.Runs, strings.Join(work.Parts, ", "), t.Round(time.Second))
	}
	if bar != nil {
		bar.phase("simulating")
		opts.Progress = bar.update
	}
	rep, err := sim.Compare(sc, opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch f.format {
	case "json":
		err = rep.WriteJSON(w)
	case "csv":
		err = rep.WriteCSV(w)
	default:
		err = rep.WriteTable(w)
	}
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := writeOut(f.out, rep); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote the report and plots to %s\n", f.out)
	}
	return nil
}

// prepareOut makes dir and checks that files can be written in it, so
// that a bad --out fails before the run, not after.
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".lbsim-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// writeOut writes every form of the report and the plots into dir.
func writeOut(dir string, rep *sim.Report) error {
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"report.json", rep.WriteJSON},
		{"report.txt", rep.WriteTable},
		{"summary.csv", rep.WriteCSV},
		{"windows.csv", rep.WriteWindowsCSV},
		{"events.csv", rep.WriteEventsCSV},
	}
	for _, file := range files {
		if err := writeFile(filepath.Join(dir, file.name), file.write); err != nil {
			return err
		}
	}
	return writePlots(dir, rep)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// progress draws one bar for each phase of the work (reading a trace,
// simulating), shown only once the command has taken a second, so short
// runs print nothing extra.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	desc  string
	bar   *progressbar.ProgressBar
}

func newProgress(mode string, w io.Writer) (*progress, error) {
	switch mode {
	case "never":
		return nil, nil
	case "always":
	case "auto":
		f, ok := w.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil, nil
		}
	default:
		return nil, usageError{fmt.Errorf("--progress %q: want auto, always or never", mode)}
	}
	return &progress{w: w, start: time.Now(), desc: "reading the trace"}, nil
}

// reading returns the callback that follows the reading of a trace, or
// nil for no bar.
func (p *progress) reading() func(float64) {
	if p == nil {
		return nil
	}
	return p.update
}

// phase ends the current bar; the next update starts one that says desc.
func (p *progress) phase(desc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	p.desc = desc
}

// update sets the bar to the fraction of the phase's work done.
func (p *progress) update(done float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		if time.Since(p.start) < time.Second {
			return
		}
		p.bar = progressbar.NewOptions(1000,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	_ = p.bar.Set(int(1000 * done))
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
