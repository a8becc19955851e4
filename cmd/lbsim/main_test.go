package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

	out, _, err = lbsim(t, "run", "steady", "-a", "random", "-f", "csv")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	assert.True(t, strings.HasPrefix(lines[0], "scenario,seed,algorithm,requests"))
	assert.True(t, strings.HasPrefix(lines[1], "steady,1,random,"))
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

	// Without --rate the load follows the trace: 60% of what its peak of 3
	// ready pods (one worker, 20 ms each) can serve.
	out, _, err = lbsim(t, "replay", csv, "-a", "random", "--duration", "10s")
	require.NoError(t, err)
	assert.Contains(t, out, "at 90 req/s")

	// A kubectl get endpointslices -w -o json recording replays as it is.
	out, _, err = lbsim(t, "replay", "../../sim/trace/testdata/rolling-update-watch.json", "-a", "maglev")
	require.NoError(t, err)
	assert.Contains(t, out, "17 endpoint changes")
}

func TestListings(t *testing.T) {
	out, _, err := lbsim(t, "scenarios")
	require.NoError(t, err)
	for _, name := range []string{"steady", "rolling-update", "scale-out", "crash-loop", "zone-drain", "hot-key"} {
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
	cases := []struct {
		args  []string
		want  string
		usage bool
	}{
		{[]string{"run", "nope"}, `"nope" is neither a file nor a built-in scenario (crash-loop, hot-key`, true},
		{[]string{"--algorithms", "best"}, `unknown algorithm "best"; valid: round-robin, random`, true},
		{[]string{"--format", "xml"}, `--format "xml": want table, json or csv`, true},
		{[]string{"run"}, "want a scenario name", true},
		{[]string{"--bogus"}, "unknown flag: --bogus", true},
		{[]string{"run", bad}, `bad.yaml: sim: invalid scenario: line 7: unknown field "burst"`, false},
		{[]string{"replay", filepath.Join(dir, "missing.csv")}, "no such file", false},
		{[]string{"scenarios", "nope"}, `unknown scenario "nope"`, true},
	}
	for _, tc := range cases {
		_, _, err := lbsim(t, tc.args...)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.want, tc.args)
		var u usageError
		assert.Equal(t, tc.usage, errors.As(err, &u), "%v: usage error (exit 2)", tc.args)
	}
}
