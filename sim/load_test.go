package sim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScenarioErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "name: x\nduration: 10s\ndeployment:\n  replicas: 3\n  replcas: 4\nworkload:\n  rate: 5\n",
			`x.yaml: sim: invalid scenario: line 5: unknown field "replcas"`},
		{"bad duration", "name: x\nduration: ten seconds\n",
			`x.yaml: sim: invalid scenario: line 2: duration "ten seconds": want a Go duration such as 1.5s or a number of seconds`},
		{"negative duration", "name: x\nduration: -3s\n", `duration "-3s" is negative`},
		{"wrong type", "name: x\nduration: 10s\ndeployment:\n  replicas: many\n", `x.yaml: sim: invalid scenario: line 4: deployment.replicas: "many" is a string, want a whole number`},
		{"wrong kind", "name: x\nduration: 10s\ndeployment:\n  replicas: [3]\n  zones: zone-a\n",
			`line 4: deployment.replicas: a list, want a whole number; line 5: deployment.zones: "zone-a" is a string, want a list`},
		{"wrong type in a list", "name: x\nduration: 10s\nworkload:\n  rate: 5\n  steps:\n    - at: 1s\n      rate: lots\n",
			`line 7: workload.steps[0].rate: "lots" is a string, want a number`},
		{"second document", "name: x\nduration: 10s\ndeployment: {replicas: 3}\nworkload: {rate: 5}\n---\nname: y\n",
			`x.yaml: sim: invalid scenario: line 5: a second YAML document; a scenario file holds one scenario`},
		{"no requests", "name: x\nduration: 10s\ndeployment: {replicas: 3}\nworkload: {rate: 5, sessions: {requests: 1e6}}\n",
			`x.yaml:4: sim: invalid scenario: workload: starts 5e-05 arrivals on average in 10s`},
		{"duplicate algorithm", "name: x\nduration: 10s\nalgorithms: [maglev, random, maglev]\ndeployment: {replicas: 3}\nworkload: {rate: 1}\n",
			`x.yaml:3: sim: invalid scenario: algorithms: algorithm "maglev" is named twice`},
		{"nested field line", "name: x\nduration: 10s\ndeployment:\n  replicas: 3\nworkload:\n  rate: 5\nproxies:\n  replicas: 2\n  propagationDelay:\n    distribution: gauss\n",
			`x.yaml:10: sim: invalid scenario: proxies.propagationDelay.distribution: "gauss" is not one of`},
		{"churn line", "name: x\nduration: 10s\ndeployment:\n  replicas: 3\nworkload:\n  rate: 5\nchurn:\n  - at: 1s\n    scale: {replicas: 2}\n  - at: 2s\n    scale: {replicas: 0}\n",
			`x.yaml:11: sim: invalid scenario: churn[1].scale.replicas: must be between 1 and`},
		{"missing field line", "name: x\nduration: 10s\ndeployment:\n  replicas: 3\n",
			`x.yaml: sim: invalid scenario: workload.rate: must be a positive number`},
		{"empty", "", `x.yaml: sim: invalid scenario: the file is empty`},
		{"not a mapping", "- 1\n- 2\n", `x.yaml: sim: invalid scenario: line 1: a list, want a mapping of its fields`},
		{"nan rate", "name: x\nduration: 10s\ndeployment: {replicas: 3}\nworkload: {rate: .nan}\n", `x.yaml:4: sim: invalid scenario: workload.rate`},
		{"bad percent", "name: x\nduration: 10s\ndeployment:\n  replicas: 3\n  strategy:\n    rollingUpdate:\n      maxSurge: 140%\nworkload: {rate: 1}\n",
			`x.yaml:7: sim: invalid scenario: deployment.strategy.rollingUpdate.maxSurge: "140%" is not a percentage`},
		{"unknown algorithm", "name: x\nduration: 10s\nalgorithms: [maglev, best]\ndeployment: {replicas: 3}\nworkload: {rate: 1}\n",
			`x.yaml: sim: invalid scenario: line 3: config: invalid algorithm configuration: unknown algorithm "best" (one of round-robin,`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScenario("x.yaml", []byte(tc.yaml))
			require.ErrorIs(t, err, ErrScenario)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestBuiltinScenariosParse(t *testing.T) {
	for _, name := range ScenarioNames() {
		sc, err := BuiltinScenario(name)
		require.NoError(t, err, name)
		assert.Equal(t, name, sc.Name, "a built-in scenario's name matches its file")
		assert.NotEmpty(t, sc.Description, name)
	}
	_, err := BuiltinScenario("nope")
	var unknown *UnknownNameError
	require.True(t, errors.As(err, &unknown))
	assert.Contains(t, err.Error(), "valid: black-hole, crash-loop, crash-loop-health, hot-key")
	_, err = BuiltinScenario("../load")
	require.Error(t, err)
}

func TestLoadScenarioWithTrace(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "churn.csv"), []byte("0s,ready,a:1\n0s,ready,b:1\n2s,remove,a:1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("name: t\nduration: 5s\ntrace: churn.csv\nworkload: {rate: 50}\n"), 0o644))
	sc, err := LoadScenario(filepath.Join(dir, "s.yaml"))
	require.NoError(t, err)
	require.NotNil(t, sc.TraceFile)
	require.Equal(t, 5, sc.TraceFile.Info().Events, "ready for an unknown endpoint implies add, ready")
	rep, err := Compare(sc, Options{})
	require.NoError(t, err)
	assert.Len(t, rep.Results, len(Algorithms()))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("0s,ready,a:1\n1s,raedy,b:1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "s2.yaml"), []byte("name: t\nduration: 5s\ntrace: bad.csv\nworkload: {rate: 50}\n"), 0o644))
	_, err = LoadScenario(filepath.Join(dir, "s2.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2")
	_, err = LoadScenario(filepath.Join(dir, "missing.yaml"))
	require.Error(t, err)
}

func FuzzParseScenario(f *testing.F) {
	for _, name := range ScenarioNames() {
		data, err := BuiltinScenarioYAML(name)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("duration: 1s\ndeployment: {replicas: 1}\nworkload: {rate: 1e300}\n"))
	f.Add([]byte("duration: 1ns\nwindow: 1ns\n"))
	f.Add([]byte("duration: 2s\ndeployment: {replicas: 4}\nworkload: {rate: 100}\nproxies: {timeout: 50ms, retries: 1}\nchurn:\n" +
		"  - {at: 0s, faults: {kind: hang, mtbf: 1s, duration: {distribution: constant, mean: 300ms}, until: 1500ms}}\n" +
		"  - {at: 500ms, fault: {kind: fail, pods: 50%, duration: 1s, latency: 2ms}}\n" +
		"  - {at: 1s, crashes: {mtbf: 2s, restartDelay: 100ms, detectionDelay: 100ms}}\n"))
	f.Add([]byte(healthYAML))
	f.Add([]byte("duration: 2s\ndeployment: {replicas: 3}\nworkload: {rate: 50}\nproxies: {timeout: 100ms, healthCheck: {interval: 1ms}, " +
		"outlierDetection: {interval: 1ms, baseEjectionTime: 1ms}, slowStart: {window: 1s}, panicThreshold: 100}\nchurn:\n" +
		"  - {at: 0s, fault: {kind: hang, pods: 2}}\n  - {at: 100ms, rollingUpdate: {}}\n"))
	f.Add([]byte("duration: 2s\ndeployment: {replicas: 4, zones: [a, a, b]}\nworkload: {rate: 50, sessions: {requests: 3}}\n" +
		"proxies: {replicas: 3, zones: [a, b], sessionAffinity: {type: Cookie, timeoutSeconds: 1}, zoneAwareRouting: {minClusterSize: 1}}\n" +
		"churn:\n  - {at: 500ms, drainZone: {zone: a}}\n"))
	f.Add([]byte("duration: 2s\ndeployment: {replicas: 4}\nworkload: {rate: 50}\nproxies: {zones: [zone-a], trafficDistribution: PreferSameZone, sessionAffinity: {type: ClientIP}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("fuzz.yaml", data)
		if err != nil {
			require.ErrorIs(t, err, ErrScenario)
			assert.True(t, strings.HasPrefix(err.Error(), "fuzz.yaml"), err.Error())
			return
		}
		// A scenario that parses also runs, or is refused as too big by
		// its work estimate, and never panics, errs otherwise or runs
		// long: the estimate is what keeps every input fast, whatever it
		// says of crashes, scaling or pods. Only the rate and the duration
		// are capped, so that the fuzzer's minimisation, which runs an
		// input thousands of times, stays quick too.
		sc.Duration = Duration(min(sc.Duration.Std(), 2e9))
		sc.Window = 0
		sc.Drain = Duration(min(sc.Drain.Std(), 1e9))
		sc.Workload.Rate = min(sc.Workload.Rate, 500)
		for i := range sc.Workload.Steps {
			sc.Workload.Steps[i].Rate = min(sc.Workload.Steps[i].Rate, 500)
		}
		sc.Algorithms = named("least-request", "maglev-bounded")
		_, err = Compare(sc, Options{DisruptionKeys: 64, Parallel: 1, MaxWork: 2e4})
		if errors.Is(err, ErrTooBig) || errors.Is(err, ErrScenario) {
			return // e.g. 20s at a rate too low to offer a request
		}
		require.NoError(t, err)
	})
}

// A scenario that names a trace parses without it, but runs only once the
// trace is loaded.
func TestTraceMustBeLoaded(t *testing.T) {
	sc, err := ParseScenario("t.yaml", []byte("name: t\nduration: 5s\ntrace: churn.csv\nworkload: {rate: 50}\n"))
	require.NoError(t, err)
	_, err = Compare(sc, Options{})
	var fe *FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, "trace", fe.Path)
	assert.Contains(t, err.Error(), `"churn.csv" is not loaded`)
}

// A scenario's algorithms may be objects in lbkit's configuration form,
// named in reports by what they set beyond their preset.
func TestScenarioAlgorithmObjects(t *testing.T) {
	sc, err := ParseScenario("x.yaml", []byte("name: x\nduration: 2s\nalgorithms: [maglev, {algorithm: ring-hash, minRingSize: 2048}]\ndeployment: {replicas: 3}\nworkload: {rate: 100}\n"))
	require.NoError(t, err)
	rep, err := Compare(sc, Options{NoBaseline: true})
	require.NoError(t, err)
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Algorithm)
	}
	assert.Equal(t, []string{"maglev", `ring-hash {"minRingSize":2048}`}, names)

	_, err = ParseScenario("x.yaml", []byte("name: x\nduration: 2s\nalgorithms: [{algorithm: maglev, choices: 3}]\ndeployment: {replicas: 3}\nworkload: {rate: 1}\n"))
	assert.ErrorContains(t, err, "line 3: config: invalid algorithm configuration: choices does not apply to maglev")
}
