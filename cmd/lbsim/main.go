// Command lbsim replays Kubernetes pod churn against lbkit's real
// load-balancing algorithms, side by side, on a virtual clock, and reports
// how each spreads load, how many keys and sessions each breaks when pods
// change, what it does to tail latency, and what a pick costs.
//
//	lbsim                          # the default scenario: a 50-pod rolling update
//	lbsim run hot-key              # a built-in scenario
//	lbsim run my-scenario.yaml     # a scenario file
//	lbsim replay churn.csv         # a recorded trace (CSV or kubectl get endpointslices -w -o json)
//	lbsim scenarios                # the built-in scenarios
//	lbsim scenarios rolling-update # one of them as YAML, to copy and edit
//	lbsim algorithms               # the algorithms
//
// Flags: --algorithms, --runs, --seed, --format table|json|csv, --out DIR,
// --max-work. Every usage error exits with status 2, any other error with 1.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lbkit/lbkit/sim"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lbsim:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks errors in how lbsim was called (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// flags are the options every run shares.
type flags struct {
	algorithms []string
	runs       int
	seed       uint64
	format     string
	out        string
	noCost     bool
	noBaseline bool
	progress   string
	maxWork    float64
	// bar is the progress bar --progress asks for, or nil: made once
	// the flags are parsed, before any command runs.
	bar *progress
	// replay only
	rate     float64
	load     float64
	speed    float64
	base     string
	proxies  int
	duration string
}

// defaultRuns is the replications lbsim makes unless told otherwise:
// enough for 95% intervals a reader can use.
const defaultRuns = 5

func newRoot() *cobra.Command {
	f := &flags{}
	root := &cobra.Command{
		Use:   "lbsim",
		Short: "Compare load-balancing algorithms under Kubernetes pod churn",
		Long: `lbsim runs a scenario (pods, traffic, proxies and churn) on a virtual clock for
each load-balancing algorithm, driving lbkit's real pickers, and prints how each
spreads load, how many keys and sessions it remaps when pods change, its request
latency and failures, and its pick cost. Every algorithm runs --runs times on
seeds derived from the scenario's, all of them seeing the same requests and
churn in a run; each figure is a mean with its 95% interval, and the table
marks the best of each column and those not significantly different from it.
Requests that never finish are counted, overload is reported, and a run too big
to finish soon is refused before it starts.

With no arguments it runs the default scenario, "` + sim.DefaultScenario + `".
Usage errors exit with status 2, other errors with 1.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q: the commands are run, replay, scenarios and algorithms (see 'lbsim --help')", args[0])}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := sim.BuiltinScenario(sim.DefaultScenario)
			if err != nil {
				return err
			}
			return execute(cmd, sc, f)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) (err error) {
		f.bar, err = newProgress(f.progress, cmd.ErrOrStderr())
		return err
	}
	addRunFlags(root, f)
	root.AddCommand(newRunCmd(f), newReplayCmd(f), newScenariosCmd(), newAlgorithmsCmd())
	return root
}

func addRunFlags(cmd *cobra.Command, f *flags) {
	fl := cmd.PersistentFlags()
	fl.StringSliceVarP(&f.algorithms, "algorithms", "a", nil, "algorithms to compare, comma-separated (default: the scenario's, or all; see 'lbsim algorithms')")
	fl.IntVarP(&f.runs, "runs", "n", defaultRuns, "replications of every algorithm, on seeds derived from the scenario's; figures are means with 95% intervals")
	fl.Uint64Var(&f.seed, "seed", 0, "random seed (default: the scenario's); 0 is a seed like any other")
	fl.Float64Var(&f.maxWork, "max-work", sim.DefaultMaxWork, "refuse a run whose estimated work is above this many simulated requests' worth")
	fl.StringVarP(&f.format, "format", "f", "table", "output format: table, json or csv")
	fl.StringVarP(&f.out, "out", "o", "", "also write report.json, report.txt, summary.csv, windows.csv, events.csv and plots (SVG and PNG) into this directory")
	fl.BoolVar(&f.noCost, "no-pick-cost", false, "do not time picks (the output is then byte-identical for the same seed)")
	fl.BoolVar(&f.noBaseline, "no-baseline", false, "when the scenario has proxy features (health, affinity, zone routing), do not also run every algorithm without them (\"(no health)\" rows)")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (when it is a terminal), always or never")
}

func newRunCmd(f *flags) *cobra.Command {
	return &cobra.Command{
		Use:   "run NAME|FILE",
		Short: "Run a built-in scenario or a scenario file",
		Example: `  lbsim run rolling-update
  lbsim run hot-key --algorithms ring-hash,ring-hash-bounded,maglev,maglev-bounded
  lbsim run ./my-scenario.yaml --format json > report.json`,
		Args: exactArgs(1, "a scenario name (see 'lbsim scenarios') or a YAML file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := loadScenario(args[0], f.bar.reading())
			if err != nil {
				return err
			}
			return execute(cmd, sc, f)
		},
	}
}

func newReplayCmd(f *flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay TRACE",
		Short: "Replay a recorded churn trace: CSV, or the output of kubectl get endpointslices -w -o json",
		Long: `replay drives the proxies' endpoint sets from a recorded trace instead of a
Deployment: every endpoint the trace adds becomes a pod, made from the pod
template of a base scenario (--scenario: the default one, or any built-in name
or YAML file, whose proxies, workload shape and drain are used too), and every
ready, unready and remove changes it.

Without --rate the traffic follows the trace: each ready pod is offered --load
of what it can serve, so the rate grows and shrinks with the pods as it did
when the trace was recorded (an autoscaler's pod count follows its load). A
long trace can be played faster with --speed; a run too big to finish in
reasonable time is refused, and says what makes it big.

For full control, write a scenario file whose 'trace:' field names the trace
(and 'traceSpeed:' its speed), and run it with 'lbsim run FILE'.

The CSV format is one change a line: time,event,endpoint[,weight][,zone], with
event add, ready, unready or remove, and time a Go duration (1.5s) or seconds.
A recording of 'kubectl get endpointslices -l kubernetes.io/service-name=NAME -w -o json'
is read as it is.`,
		Example: `  kubectl get endpointslices -l kubernetes.io/service-name=web -w -o json > web.json
  lbsim replay web.json --proxies 5
  lbsim replay month.csv --speed 100 --load 0.5 --scenario steady
  lbsim replay web.json --rate 2000 --duration 10m`,
		Args: exactArgs(1, "a trace file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := replayScenario(args[0], f, cmd.Flags())
			if err != nil {
				return err
			}
			return execute(cmd, sc, f)
		},
	}
	cmd.Flags().Float64Var(&f.rate, "rate", 0, "a constant rate, requests a second (default: the rate follows the trace's ready pods, see --load)")
	cmd.Flags().Float64Var(&f.load, "load", 0.6, "without --rate, the load offered to each ready pod, as a fraction of what it can serve")
	cmd.Flags().Float64Var(&f.speed, "speed", 1, "replay the trace this many times faster than it was recorded")
	cmd.Flags().StringVar(&f.base, "scenario", "", "the scenario whose pod template, proxies and workload shape the replay uses (default \""+sim.DefaultScenario+"\")")
	cmd.Flags().IntVar(&f.proxies, "proxies", 3, "number of proxies (default: 3, or the --scenario's)")
	cmd.Flags().StringVar(&f.duration, "duration", "", "virtual time to simulate (default: the trace's length at --speed, plus 30s)")
	return cmd
}

func newScenariosCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios [NAME]",
		Short: "List the built-in scenarios, or print one as YAML",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("want at most one scenario name, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				data, err := sim.BuiltinScenarioYAML(args[0])
				if err != nil {
					return usageError{err}
				}
				_, err = w.Write(data)
				return err
			}
			for _, name := range sim.ScenarioNames() {
				sc, err := sim.BuiltinScenario(name)
				if err != nil {
					return err
				}
				mark := " "
				if name == sim.DefaultScenario {
					mark = "*"
				}
				fmt.Fprintf(w, "%s %-16s %s\n", mark, name, sc.Description)
			}
			fmt.Fprintln(w, "\n* the default. 'lbsim scenarios NAME' prints one as YAML to copy and edit.")
			return nil
		},
	}
}

func newAlgorithmsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "algorithms",
		Short: "List the algorithms lbsim compares",
		Args:  exactArgs(0, "no arguments"),
		Run: func(cmd *cobra.Command, _ []string) {
			for _, a := range sim.Algorithms() {
				kind := "load"
				if a.Consistent {
					kind = "hash"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-20s %s\n", a.Name, kind)
			}
		},
	}
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("want %s, got %d arguments", what, len(args))}
		}
		return nil
	}
}
