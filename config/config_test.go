package config_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/config"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

func TestParseJSON(t *testing.T) {
	cases := []struct {
		in   string
		want balancer.Builder
	}{
		{`"maglev"`, maglev.Config{}},
		{`"Least-Request"`, leastconn.Config{}},
		{`{"algorithm": "least-request", "choices": 3}`, leastconn.Config{Choices: 3}},
		{`{"algorithm": "least-request-3"}`, leastconn.Config{Choices: 3}},
		{`{"algorithm": "least-request-full"}`, leastconn.Config{FullScan: true}},
		{`{"algorithm": "peak-ewma", "decay": "5s", "failurePenalty": "1s"}`,
			leastconn.Config{PeakEWMA: true, Decay: 5 * time.Second, FailurePenalty: time.Second}},
		{`{"algorithm": "ring-hash", "compat": "grpc", "minRingSize": 4096}`,
			ringhash.Config{Compat: ringhash.GRPC, MinRingSize: 4096}},
		{`{"algorithm": "ring-hash-envoy", "maxRingSize": 65536}`, ringhash.Config{Compat: ringhash.Envoy, MaxRingSize: 65536}},
		{`{"algorithm": "ring-hash-bounded"}`, ringhash.Config{BalanceFactor: 1.25}},
		{`{"algorithm": "maglev", "tableSize": 5, "balanceFactor": 1.5}`, maglev.Config{TableSize: 5, BalanceFactor: 1.5}},
		{`{"algorithm": "round-robin", "maxTableSize": 100}`, roundrobin.Config{MaxTableSize: 100}},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			a, err := config.ParseJSON([]byte(c.in))
			require.NoError(t, err)
			b, err := a.Builder(nil)
			require.NoError(t, err)
			assert.Equal(t, c.want, b)
			// The same configuration survives a round trip through JSON
			// and through YAML.
			js, err := json.Marshal(a)
			require.NoError(t, err)
			back, err := config.ParseJSON(js)
			require.NoError(t, err, "%s", js)
			assert.Equal(t, a, back)
			ys, err := yaml.Marshal(a)
			require.NoError(t, err)
			back, err = config.ParseYAML(ys)
			require.NoError(t, err, "%s", ys)
			assert.Equal(t, a, back)
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		`{}`:     "no algorithm named",
		`"nope"`: `unknown algorithm "nope"`,
		`{"algorithm": "maglev", "tablesize": 5}`:         `unknown field "tablesize"`,
		`{"algorithm": "maglev", "choices": 2}`:           "choices does not apply to maglev",
		`{"algorithm": "least-request-3", "choices": 4}`:  "least-request-3 fixes choices to 3",
		`{"algorithm": "maglev", "tableSize": 4}`:         "maglev",
		`{"algorithm": "least-request", "choices": 1}`:    "Choices is 1",
		`{"algorithm": "ring-hash", "compat": "haproxy"}`: `unknown ring-hash compat "haproxy"`,
		`{"algorithm": "ring-hash", "balanceFactor": -1}`: "BalanceFactor -1",
		`{"algorithm": "peak-ewma", "decay": "soon"}`:     "invalid duration",
		`{"algorithm": "peak-ewma", "decay": "-1s"}`:      "negative",
		`{"algorithm": "peak-ewma", "decay": true}`:       "neither a string",
		`{"algorithm": "maglev"} {"algorithm": "maglev"}`: "invalid character",
		`[1]`: "cannot unmarshal",
		`{"algorithm": "maglev", "tableSize": 1e99}`: "tableSize",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			_, err := config.ParseJSON([]byte(in))
			require.Error(t, err)
			assert.ErrorIs(t, err, config.ErrConfig)
			assert.Contains(t, err.Error(), want)
		})
	}
}

func TestParseYAML(t *testing.T) {
	a, err := config.ParseYAML([]byte("algorithm: peak-ewma\ndecay: 2s\nchoices: 3\n"))
	require.NoError(t, err)
	assert.Equal(t, config.Algorithm{Name: "peak-ewma", Decay: config.Duration(2 * time.Second), Choices: 3}, a)

	a, err = config.ParseYAML([]byte("MAGLEV"))
	require.NoError(t, err)
	assert.Equal(t, "maglev", a.Name)

	for in, want := range map[string]string{
		"algorithm: maglev\ntablesize: 5\n": `unknown field "tablesize"`,
		"algorithm: maglev\nchoices: 2\n":   "does not apply",
		"algorithm: [1]\n":                  "cannot unmarshal",
		"nope":                              "unknown algorithm",
	} {
		_, err := config.ParseYAML([]byte(in))
		require.Error(t, err, in)
		assert.ErrorIs(t, err, config.ErrConfig)
		assert.Contains(t, err.Error(), want)
	}

	// Inside a document of the caller's, as lbsim's scenarios hold a list.
	var doc struct {
		Algorithms []config.Algorithm `yaml:"algorithms"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("algorithms: [maglev, {algorithm: ring-hash, minRingSize: 2048}]\n"), &doc))
	assert.Equal(t, []config.Algorithm{{Name: "maglev"}, {Name: "ring-hash", MinRingSize: 2048}}, doc.Algorithms)
	err = yaml.Unmarshal([]byte("algorithms: [{algorithm: ring-hash, minringsize: 2048}]\n"), &doc)
	assert.ErrorIs(t, err, config.ErrConfig)
}

func TestNamesAndPresets(t *testing.T) {
	names := config.Names()
	assert.Contains(t, names, "ring-hash-grpc")
	for _, n := range names {
		a, err := config.Parse(n)
		require.NoError(t, err, n)
		assert.Equal(t, n, a.Name)
		b, err := a.Builder(nil)
		require.NoError(t, err)
		_, isHasher := b.(balancer.ConsistentHasher)
		if isHasher {
			assert.Equal(t, b.(balancer.ConsistentHasher).ConsistentHash(), a.Consistent(), n)
		}
		// Every preset builds a working picker.
		p, err := b.Build([]*balancer.Endpoint{balancer.NewEndpoint(balancer.Backend{ID: "a"})})
		require.NoError(t, err, n)
		e, err := p.Pick(balancer.KeyRequest("k"))
		require.NoError(t, err)
		assert.Equal(t, "a", e.ID)
	}
	presets := config.Presets()
	assert.Len(t, presets, len(names)-1, "ring-hash-grpc is named but not in the default set")
	assert.Equal(t, "round-robin", presets[0].Name)

	_, err := config.Parse("")
	assert.ErrorIs(t, err, config.ErrConfig)
	a, err := config.Parse(" Ring-Hash-Bounded ")
	require.NoError(t, err)
	assert.Equal(t, "ring-hash-bounded", a.Name)
	assert.True(t, a.Consistent())
	assert.Equal(t, "ring-hash", a.Base())
}

func TestString(t *testing.T) {
	a, err := config.ParseJSON([]byte(`{"algorithm": "ring-hash-bounded", "minRingSize": 4096}`))
	require.NoError(t, err)
	assert.Equal(t, `ring-hash-bounded {"minRingSize":4096}`, a.String())
	assert.Equal(t, "maglev", config.Algorithm{Name: "maglev"}.String())
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`"maglev"`, `{"algorithm":"least-request","choices":3}`,
		`{"algorithm":"ring-hash","compat":"grpc","minRingSize":4096,"maxRingSize":8192}`,
		`{"algorithm":"peak-ewma","decay":"1s"}`, `{"algorithm":"maglev","tableSize":65537,"balanceFactor":1.25}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := config.ParseJSON(data)
		if err != nil {
			if !errors.Is(err, config.ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		// What parses builds a picker over a small set, and round-trips.
		b, err := a.Builder(nil)
		if err != nil {
			t.Fatalf("parsed %+v but Builder fails: %v", a, err)
		}
		if a.TableSize > 1<<20 || a.MinRingSize > 1<<20 || a.MaxRingSize > 1<<20 || a.MaxTableSize > 1<<20 {
			return // valid, but too slow to build in a fuzzer
		}
		if _, err := b.Build([]*balancer.Endpoint{balancer.NewEndpoint(balancer.Backend{ID: "a", Weight: 3}),
			balancer.NewEndpoint(balancer.Backend{ID: "b"})}); err != nil {
			t.Fatalf("parsed %+v but Build fails: %v", a, err)
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		back, err := config.ParseJSON(js)
		if err != nil || back != a {
			t.Fatalf("round trip of %s: %+v, %v; want %+v", js, back, err, a)
		}
	})
}

func FuzzParseYAML(f *testing.F) {
	for _, s := range []string{"maglev", "algorithm: least-request\nchoices: 3\n", "{algorithm: ring-hash, compat: envoy}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := config.ParseYAML(data); err != nil && !errors.Is(err, config.ErrConfig) {
			t.Fatalf("error %v does not wrap ErrConfig", err)
		}
	})
}
