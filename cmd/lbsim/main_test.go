package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/sim"
)

// lbsim runs the command in-process and returns its stdout and stderr.
func lbsim(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRoot()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestDefaultScenarioTable(t *testing.T) {
	out, _, err := lbsim(t, "--algorithms", "round-robin,maglev", "--no-pick-cost")
	require.NoError(t, err)
	assert.Contains(t, out, "scenario rolling-update")
	assert.Contains(t, out, "p99 ms")
	assert.Contains(t, out, "maglev")
	assert.NotContains(t, out, "least-request")
}

func TestRunFormats(t *testing.T) {
	out, _, err := lbsim(t, "run", "hot-key", "-a", "ring-hash,ring-hash-bounded", "--format", "json", "--seed", "7")
	require.NoError(t, err)
	var rep sim.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, uint64(7), rep.Seed)
	require.Len(t, rep.Results, 2)
	assert.Greater(t, rep.Results[0].Latency.P99, rep.Results[1].Latency.P99, "bounded loads cut the hot key's tail")

	out, _, err = lbsim(t, "run", "steady", "-a", "random,maglev", "-f", "csv", "--runs", "3")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	assert.True(t, strings.HasPrefix(lines[0], "scenario,seed,runs,algorithm,requests,requests_ci95,requests_vs_best,failed_fraction,"))
	assert.True(t, strings.HasPrefix(lines[1], "steady,1,3,random,"))
	assert.Contains(t, lines[0], "p99_ms,p99_ms_ci95,p99_ms_vs_best")
}

// --runs replicates every algorithm; the JSON carries each figure's mean,
// interval and per-run values, and the table shows the intervals.
func TestRunsIntervals(t *testing.T) {
	out, _, err := lbsim(t, "run", "steady", "-a", "random,least-request", "--runs", "4", "-f", "json", "--no-pick-cost")
	require.NoError(t, err)
	var rep sim.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 4, rep.Runs)
	require.Len(t, rep.Seeds, 4)
	require.Len(t, rep.Summary, 2)
	for _, s := range rep.Summary {
		p99 := s.Metrics["p99_ms"]
		require.NotNil(t, p99, s.Algorithm)
		assert.Len(t, p99.Values, 4)
		assert.Positive(t, p99.CI95, s.Algorithm)
	}
	assert.True(t, rep.Summary[1].Metrics["p99_ms"].Best, "least request beats random's tail")

	out, _, err = lbsim(t, "run", "steady", "-a", "random,least-request", "--runs", "4", "--no-pick-cost")
	require.NoError(t, err)
	assert.Contains(t, out, "4 runs from seed 1")
	assert.Regexp(t, `least-request .* \d+\.\d ±\d+\.\d \*`, out)

	// One run says it has no interval.
	out, _, err = lbsim(t, "run", "steady", "-a", "random", "--runs", "1", "--no-pick-cost")
	require.NoError(t, err)
	assert.Contains(t, out, "NOTE one run")
}

// A seed of 0 is a seed: it is used, not replaced by the scenario's.
func TestSeedZero(t *testing.T) {
	run := func(args ...string) sim.Report {
		out, _, err := lbsim(t, append([]string{"run", "steady", "-a", "random", "--runs", "1", "-f", "json", "--no-pick-cost"}, args...)...)
		require.NoError(t, err)
		var rep sim.Report
		require.NoError(t, json.Unmarshal([]byte(out), &rep))
		return rep
	}
	zero, def := run("--seed", "0"), run()
	assert.Equal(t, uint64(0), zero.Seed)
	assert.Equal(t, uint64(1), def.Seed)
	assert.NotEqual(t, zero.Results[0].Requests, def.Results[0].Requests)
}

func TestOutDir(t *testing.T) {
	dir := t.TempDir()
	_, errOut, err := lbsim(t, "run", "zone-drain", "-a", "maglev,least-request", "--out", dir)
	require.NoError(t, err)
	assert.Contains(t, errOut, "wrote the report")
	for _, f := range []string{"report.json", "report.txt", "summary.csv", "windows.csv", "events.csv", "skew.svg", "latency-cdf.svg", "disruption.svg", "skew.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.Positive(t, st.Size(), f)
	}
}

func TestScenarioFileAndReplay(t *testing.T) {
	dir := t.TempDir()
	yaml, _, err := lbsim(t, "scenarios", "scale-out")
	require.NoError(t, err)
	path := filepath.Join(dir, "mine.yaml")
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(yaml, "duration: 90s", "duration: 30s", 1)), 0o644))
	out, _, err := lbsim(t, "run", path, "-a", "maglev")
	require.NoError(t, err)
	assert.Contains(t, out, "scenario scale-out")

	csv := filepath.Join(dir, "churn.csv")
	require.NoError(t, os.WriteFile(csv, []byte("time,event,endpoint\n0s,ready,10.0.0.1:80\n0s,ready,10.0.0.2:80\n3s,ready,10.0.0.3:80\n6s,remove,10.0.0.1:80\n"), 0o644))
	out, _, err = lbsim(t, "replay", csv, "-a", "ring-hash", "--rate", "100", "--duration", "10s")
	require.NoError(t, err)
	assert.Contains(t, out, "replay churn.csv")
	assert.Contains(t, out, "ring-hash")

	// Without --rate the load follows the trace: 60% of what each ready
	// pod (one worker, 20 ms a request) can serve.
	out, _, err = lbsim(t, "replay", csv, "-a", "random", "--duration", "10s")
	require.NoError(t, err)
	assert.Contains(t, out, "at 30 req/s a ready pod (60% of its capacity)")
	assert.NotContains(t, out, "NOTE overloaded", "the load follows the pods")

	// A kubectl get endpointslices -w -o json recording replays as it is.
	out, _, err = lbsim(t, "replay", "../../sim/trace/testdata/rolling-update-watch.json", "-a", "maglev")
	require.NoError(t, err)
	assert.Contains(t, out, "17 endpoint changes")
}

func TestListings(t *testing.T) {
	out, _, err := lbsim(t, "scenarios")
	require.NoError(t, err)
	for _, name := range []string{"steady", "rolling-update", "scale-out", "crash-loop", "zone-drain", "hot-key", "black-hole"} {
		assert.Contains(t, out, name)
	}
	out, _, err = lbsim(t, "algorithms")
	require.NoError(t, err)
	assert.Contains(t, out, "maglev-bounded")
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nduration: 10s\ndeployment:\n  replicas: 3\nworkload:\n  rate: 5\n  burst: 9\n"), 0o644))
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	huge := filepath.Join(dir, "huge.yaml")
	require.NoError(t, os.WriteFile(huge, []byte("name: x\nduration: 60s\ndeployment:\n  replicas: 3\nworkload:\n  rate: 1e8\n"), 0o644))
	cases := []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"run", "nope"}, `"nope" is neither a file nor a built-in scenario (black-hole, crash-loop, crash-loop-health, hot-key`, true},
		{[]string{"--algorithms", "best"}, `unknown algorithm "best"; valid: round-robin, random`, true},
		{[]string{"--format", "xml"}, `--format "xml": want table, json or csv`, true},
		{[]string{"run"}, "want a scenario name", true},
		{[]string{"--bogus"}, "unknown flag: --bogus", true},
		{[]string{"run", bad}, `bad.yaml: sim: invalid scenario: line 7: unknown field "burst"`, false},
		{[]string{"replay", filepath.Join(dir, "missing.csv")}, "no such file", false},
		{[]string{"scenarios", "nope"}, `unknown scenario "nope"`, true},
		{[]string{"bogus"}, `unknown command "bogus"`, true},
		{[]string{"--runs", "0"}, "--runs 0: want 1 to 1000", true},
		{[]string{"--runs", "many"}, `invalid argument "many"`, true},
		{[]string{"--seed", "-1"}, `invalid argument "-1"`, true},
		{[]string{"-a", "maglev,maglev"}, `algorithm "maglev" is named twice`, true},
		{[]string{"replay", "x.csv", "--proxies", "0"}, "--proxies 0: want 1 to 1000", true},
		{[]string{"replay", "x.csv", "--rate", "-3"}, "--rate -3: want a positive number", true},
		{[]string{"replay", "x.csv", "--duration", "soon"}, "--duration", true},
		{[]string{"--out", file}, "--out " + file, true},
		{[]string{"--max-work", "1000"}, "run too big: about", true},
		{[]string{"run", huge}, "run too big", true},
		{[]string{"algorithms", "extra"}, "want no arguments", true},
	}
	for _, tc := range cases {
		_, _, err := lbsim(t, tc.args...)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.want, tc.args)
		var u usageError
		assert.Equal(t, tc.usage, errors.As(err, &u), "%v: usage error (exit 2)", tc.args)
	}
}

// The progress bar appears once the command has taken a second, and says
// what the work is.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p, err := newProgress("always", &buf)
	require.NoError(t, err)
	p.update(0.5)
	assert.Empty(t, buf.String(), "nothing before a second")
	p.start = p.start.Add(-2 * time.Second)
	p.update(0.5)
	p.phase("simulating")
	p.update(0.25)
	p.finish()
	out := buf.String()
	assert.Contains(t, out, "reading the trace")
	assert.Contains(t, out, "simulating")
	_, err = newProgress("sometimes", &buf)
	var u usageError
	require.ErrorAs(t, err, &u)
}
