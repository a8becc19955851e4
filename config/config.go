package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/random"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

// ErrConfig is wrapped by every error this package returns.
var ErrConfig = errors.New("config: invalid algorithm configuration")

// Algorithm is one algorithm's configuration in a form that JSON and YAML
// carry. Name is required; every other field is optional, applies to the
// algorithms its comment names, and zero means that algorithm's default.
// Builder turns it into the algorithm package's Config.
type Algorithm struct {
	// Name is an algorithm or a preset (see Names). Matching ignores case;
	// Parse and the decoders store the canonical lower-case spelling.
	Name string `json:"algorithm" yaml:"algorithm"`

	// Choices is how many endpoints least request samples (least-request,
	// peak-ewma): 2 by default, at least 2.
	Choices int `json:"choices,omitempty" yaml:"choices,omitempty"`
	// FullScan makes least request look at every endpoint (least-request).
	FullScan bool `json:"fullScan,omitempty" yaml:"fullScan,omitempty"`
	// Decay is the peak-EWMA latency's time constant (peak-ewma).
	Decay Duration `json:"decay,omitempty" yaml:"decay,omitempty"`
	// DefaultLatency is the latency peak EWMA assumes of an endpoint with
	// no sample yet (peak-ewma).
	DefaultLatency Duration `json:"defaultLatency,omitempty" yaml:"defaultLatency,omitempty"`
	// FailurePenalty is the latency a failed request counts as (peak-ewma).
	FailurePenalty Duration `json:"failurePenalty,omitempty" yaml:"failurePenalty,omitempty"`

	// MaxTableSize caps weighted round robin's schedule (round-robin).
	MaxTableSize int `json:"maxTableSize,omitempty" yaml:"maxTableSize,omitempty"`

	// MinRingSize and MaxRingSize bound the ring (ring-hash).
	MinRingSize uint64 `json:"minRingSize,omitempty" yaml:"minRingSize,omitempty"`
	MaxRingSize uint64 `json:"maxRingSize,omitempty" yaml:"maxRingSize,omitempty"`
	// Replicas is the native ring's entries per unit of weight (ring-hash
	// with the lbkit layout).
	Replicas uint32 `json:"replicas,omitempty" yaml:"replicas,omitempty"`
	// Compat is the ring layout (ring-hash): "lbkit" (or empty), "envoy"
	// or "grpc".
	Compat string `json:"compat,omitempty" yaml:"compat,omitempty"`

	// TableSize is the Maglev table's size, a prime (maglev).
	TableSize uint64 `json:"tableSize,omitempty" yaml:"tableSize,omitempty"`

	// BalanceFactor bounds each endpoint's load to this multiple of the
	// average (ring-hash, maglev): 1.25 is at most 25% above; 0 is off.
	BalanceFactor float64 `json:"balanceFactor,omitempty" yaml:"balanceFactor,omitempty"`
}

// The algorithms.
const (
	RoundRobin   = "round-robin"
	Random       = "random"
	LeastRequest = "least-request"
	PeakEWMA     = "peak-ewma"
	RingHash     = "ring-hash"
	Maglev       = "maglev"
)

// presets are the named configurations, in the order reports list them.
// The first entry of each algorithm is the algorithm itself.
var presets = []Algorithm{
	{Name: RoundRobin},
	{Name: Random},
	{Name: LeastRequest},
	{Name: "least-request-3", Choices: 3},
	{Name: "least-request-full", FullScan: true},
	{Name: PeakEWMA},
	{Name: RingHash},
	{Name: "ring-hash-envoy", Compat: "envoy"},
	{Name: "ring-hash-bounded", BalanceFactor: 1.25},
	{Name: Maglev},
	{Name: "maglev-bounded", BalanceFactor: 1.25},
	{Name: "ring-hash-grpc", Compat: "grpc"},
}

// extra names the presets that Names lists but Presets leaves out of the
// default comparison set.
var extra = map[string]bool{"ring-hash-grpc": true}

// Presets returns the named configurations that a comparison of every
// algorithm runs (lbsim's default set), in report order. The slice is the
// caller's.
func Presets() []Algorithm {
	var out []Algorithm
	for _, p := range presets {
		if !extra[p.Name] {
			out = append(out, p)
		}
	}
	return out
}

// Names returns every name Parse accepts, in report order.
func Names() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return names
}

// Parse returns the configuration a name stands for: an algorithm with
// its defaults, or a preset. The match ignores case and surrounding space.
func Parse(name string) (Algorithm, error) {
	var a Algorithm
	return a, a.set(Algorithm{Name: name})
}

// lookup returns the preset a name stands for.
func lookup(name string) (Algorithm, bool) {
	for _, p := range presets {
		if strings.EqualFold(p.Name, strings.TrimSpace(name)) {
			return p, true
		}
	}
	return Algorithm{}, false
}

// Base returns the algorithm a's name belongs to (least-request for
// least-request-3, say), or "" for an unknown name.
func (a Algorithm) Base() string {
	p, ok := lookup(a.Name)
	if !ok {
		return ""
	}
	for _, b := range []string{LeastRequest, PeakEWMA, RingHash, Maglev, RoundRobin, Random} {
		if p.Name == b || strings.HasPrefix(p.Name, b+"-") {
			return b
		}
	}
	return ""
}

// Consistent reports whether a is a hash picker (ring hash, Maglev), whose
// picks are a function of the request's hash.
func (a Algorithm) Consistent() bool {
	b := a.Base()
	return b == RingHash || b == Maglev
}

// String returns a's name followed by the fields it sets beyond its
// preset, in JSON: "ring-hash", `ring-hash {"minRingSize":4096}`.
func (a Algorithm) String() string {
	p, ok := lookup(a.Name)
	if !ok {
		return a.Name
	}
	m := a.fields()
	for k, v := range p.fields() {
		if m[k] == v {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return p.Name
	}
	js, _ := json.Marshal(m) // map keys are sorted
	return p.Name + " " + string(js)
}

// fields returns the non-zero fields of a other than Name, by JSON name.
func (a Algorithm) fields() map[string]any {
	var m map[string]any
	b, _ := json.Marshal(a)
	_ = json.Unmarshal(b, &m)
	delete(m, "algorithm")
	return m
}

// applies says which algorithms each field applies to, by JSON name.
var applies = map[string][]string{
	"choices":        {LeastRequest, PeakEWMA},
	"fullScan":       {LeastRequest},
	"decay":          {PeakEWMA},
	"defaultLatency": {PeakEWMA},
	"failurePenalty": {PeakEWMA},
	"maxTableSize":   {RoundRobin},
	"minRingSize":    {RingHash},
	"maxRingSize":    {RingHash},
	"replicas":       {RingHash},
	"compat":         {RingHash},
	"tableSize":      {Maglev},
	"balanceFactor":  {RingHash, Maglev},
}

// resolved returns a with its preset's fields filled in and its name made
// canonical. A field set both by the preset and by a to another value is
// an error.
func (a Algorithm) resolved() (Algorithm, error) {
	if strings.TrimSpace(a.Name) == "" {
		return a, fmt.Errorf("%w: no algorithm named (one of %s)", ErrConfig, strings.Join(Names(), ", "))
	}
	p, ok := lookup(a.Name)
	if !ok {
		return a, fmt.Errorf("%w: unknown algorithm %q (one of %s)", ErrConfig, a.Name, strings.Join(Names(), ", "))
	}
	base := Algorithm{Name: p.Name}.Base()
	own := a.fields()
	for k, v := range p.fields() {
		if w, set := own[k]; set && w != v {
			return a, fmt.Errorf("%w: %s fixes %s to %v; use %s to set it", ErrConfig, p.Name, k, v, base)
		}
	}
	for k := range own {
		ok := false
		for _, alg := range applies[k] {
			ok = ok || alg == base
		}
		if !ok {
			return a, fmt.Errorf("%w: %s does not apply to %s (it applies to %s)", ErrConfig, k, p.Name, strings.Join(applies[k], ", "))
		}
	}
	r := a
	r.Name = p.Name
	switch {
	case p.Choices != 0:
		r.Choices = p.Choices
	case p.FullScan:
		r.FullScan = true
	case p.Compat != "":
		r.Compat = p.Compat
	case p.BalanceFactor != 0 && r.BalanceFactor == 0:
		r.BalanceFactor = p.BalanceFactor
	}
	return r, nil
}

// Validate reports whether a names an algorithm and every field it sets
// applies to it with a value the algorithm accepts.
func (a Algorithm) Validate() error {
	b, err := a.Builder(nil)
	if err != nil {
		return err
	}
	// The algorithm packages check their own values when they build; an
	// empty set builds nothing else.
	if _, err := b.Build(nil); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Builder returns the algorithm package's Config for a, drawing its
// randomness from src (nil: the package's default source). It checks the
// names and fields; the values are checked by the Config when it builds
// (Validate does both).
func (a Algorithm) Builder(src rand.Source) (balancer.Builder, error) {
	r, err := a.resolved()
	if err != nil {
		return nil, err
	}
	switch r.Base() {
	case RoundRobin:
		return roundrobin.Config{Rand: src, MaxTableSize: r.MaxTableSize}, nil
	case Random:
		return random.Config{Rand: src}, nil
	case LeastRequest, PeakEWMA:
		return leastconn.Config{
			Choices:        r.Choices,
			FullScan:       r.FullScan,
			PeakEWMA:       r.Base() == PeakEWMA,
			Decay:          time.Duration(r.Decay),
			DefaultLatency: time.Duration(r.DefaultLatency),
			FailurePenalty: time.Duration(r.FailurePenalty),
			Rand:           src,
		}, nil
	case RingHash:
		c, err := compat(r.Compat)
		if err != nil {
			return nil, err
		}
		return ringhash.Config{MinRingSize: r.MinRingSize, MaxRingSize: r.MaxRingSize, Replicas: r.Replicas,
			BalanceFactor: r.BalanceFactor, Compat: c, Rand: src}, nil
	case Maglev:
		return maglev.Config{TableSize: r.TableSize, BalanceFactor: r.BalanceFactor, Rand: src}, nil
	}
	return nil, fmt.Errorf("%w: unknown algorithm %q", ErrConfig, a.Name)
}

func compat(s string) (ringhash.Compat, error) {
	switch strings.ToLower(s) {
	case "", "lbkit", "native":
		return ringhash.Native, nil
	case "envoy":
		return ringhash.Envoy, nil
	case "grpc":
		return ringhash.GRPC, nil
	}
	return 0, fmt.Errorf("%w: unknown ring-hash compat %q (lbkit, envoy or grpc)", ErrConfig, s)
}

// ParseJSON decodes one Algorithm from JSON: an object, or a string that
// names one. Unknown fields, trailing data and invalid values are errors.
func ParseJSON(data []byte) (Algorithm, error) {
	var a Algorithm
	if err := json.Unmarshal(data, &a); err != nil {
		if errors.Is(err, ErrConfig) {
			return Algorithm{}, err
		}
		return Algorithm{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return a, nil
}

// ParseYAML decodes one Algorithm from YAML: a mapping, or a scalar that
// names one. Unknown fields and invalid values are errors.
func ParseYAML(data []byte) (Algorithm, error) {
	var a Algorithm
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil {
		if errors.Is(err, ErrConfig) {
			return Algorithm{}, err
		}
		return Algorithm{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return a, nil
}

// plain has Algorithm's fields without its methods, for the decoders.
type plain Algorithm

// UnmarshalJSON decodes an object or a name strictly and validates it.
func (a *Algorithm) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	var v plain
	if len(data) > 0 && data[0] == '"' {
		if err := json.Unmarshal(data, &v.Name); err != nil {
			return err
		}
	} else {
		// encoding/json matches field names without regard to case;
		// a configuration's names are exact.
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(data, &keys); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		for k := range keys {
			if _, ok := applies[k]; !ok && k != "algorithm" {
				return fmt.Errorf("%w: unknown field %q", ErrConfig, k)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if dec.More() {
			return fmt.Errorf("%w: data after the algorithm's object", ErrConfig)
		}
	}
	return a.set(Algorithm(v))
}

// UnmarshalYAML decodes a mapping or a scalar name strictly and validates
// it.
func (a *Algorithm) UnmarshalYAML(n *yaml.Node) error {
	var v plain
	if n.Kind == yaml.ScalarNode {
		v.Name = n.Value
	} else {
		// Node.Decode does not inherit the decoder's KnownFields: check
		// the keys here.
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if _, ok := applies[k]; !ok && k != "algorithm" {
					return fmt.Errorf("%w: line %d: unknown field %q", ErrConfig, n.Content[i].Line, k)
				}
			}
		}
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if err := a.set(Algorithm(v)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// set stores v in a, validated, with its canonical name and its preset's
// fields.
func (a *Algorithm) set(v Algorithm) error {
	if err := v.Validate(); err != nil {
		return err
	}
	r, err := v.resolved()
	if err != nil {
		return err
	}
	*a = r
	return nil
}

// Duration is a time.Duration that JSON and YAML write as a Go duration
// string ("10s"). A JSON number is read as nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		var n int64
		if err := json.Unmarshal(data, &n); err != nil {
			return fmt.Errorf("%w: duration %s is neither a string such as \"10s\" nor a number of nanoseconds", ErrConfig, data)
		}
		*d = Duration(n)
		return nil
	}
	return d.parse(s)
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.parse(n.Value) }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if v < 0 {
		return fmt.Errorf("%w: duration %q is negative", ErrConfig, s)
	}
	*d = Duration(v)
	return nil
}
