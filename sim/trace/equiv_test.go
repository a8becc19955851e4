package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireSameAsOracle checks that ReadEndpointSlices and the streaming
// Reader read in the same events and error as the old reader, the
// oracle, reading whole, slowly and in small reads.
func requireSameAsOracle(t *testing.T, in []byte, opt SliceOptions) {
	t.Helper()
	want, wantErr := oldReadEndpointSlices(bytes.NewReader(in), opt)
	got, err := ReadEndpointSlices(bytes.NewReader(in), opt)
	requireSameResult(t, want, wantErr, got, err)

	// The Reader returns the events before an error too, and reads the
	// same however the input arrives.
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(in),
		"one byte": iotest.OneByteReader(bytes.NewReader(in)),
		"half":     iotest.HalfReader(bytes.NewReader(in)),
	} {
		stream, streamErr := readAll(NewSliceReader(r, opt))
		if err == nil {
			require.NoError(t, streamErr, name)
			require.Equal(t, got, stream, name)
			continue
		}
		require.Error(t, streamErr, name)
		require.Equal(t, err.Error(), streamErr.Error(), name)
		if got != nil {
			require.Equal(t, got, stream, name)
		}
	}
}

// requireSameResult checks that a new result equals the oracle's, but for
// the change the streaming made to the service checks: a stream of several
// services fails when the second service appears, with ErrService, where
// the old reader read on and might fail otherwise first, but returned no
// events either way.
func requireSameResult(t *testing.T, want []Event, wantErr error, got []Event, err error) {
	t.Helper()
	if errors.Is(err, ErrService) || errors.Is(wantErr, ErrService) {
		require.ErrorIs(t, err, ErrService, "the oracle says %v", wantErr)
		require.Error(t, wantErr)
		require.Nil(t, want)
		require.Nil(t, got)
		return
	}
	if wantErr == nil {
		require.NoError(t, err)
	} else {
		require.EqualError(t, err, wantErr.Error())
	}
	require.Equal(t, want, got)
}

func TestEquivalenceTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, opt := range []SliceOptions{{}, {Service: "web", Port: "metrics"}, {Service: "shop/web"}, {Service: "api"}, {Interval: 3}} {
			t.Run(fmt.Sprintf("%s/%+v", filepath.Base(file), opt), func(t *testing.T) {
				requireSameAsOracle(t, data, opt)
			})
		}
		t.Run(filepath.Base(file)+"/cut", func(t *testing.T) {
			// Cut short all along, inside values and between them.
			for cut := 0; cut < len(data); cut += 1 + len(data)/80 {
				requireSameAsOracle(t, data[:cut], SliceOptions{})
			}
		})
	}
}

func TestEquivalenceRandom(t *testing.T) {
	for seed := range uint64(300) {
		g := newSliceStreamGen(seed)
		in := g.stream(5 + int(seed%40))
		opt := SliceOptions{}
		switch seed % 5 {
		case 1:
			opt.Port = "metrics"
		case 2:
			opt.Service = "web"
		case 3:
			opt.Service = "prod/web"
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			requireSameAsOracle(t, in, opt)
		})
	}
}

// sliceStreamGen makes random EndpointSlice streams that exercise the
// union: endpoints that flap, leave and come back, move between slices and
// are listed by two at once or twice by one, slices that are deleted and
// Lists that drop them, in every layout the reader takes. Some values go
// the careful way (escapes, repeated keys, nulls); now and then a value is
// of another service, or malformed.
type sliceStreamGen struct {
	rng   *rand.Rand
	when  int // seconds after the first trigger time
	names []string
	addrs []string
}

func newSliceStreamGen(seed uint64) *sliceStreamGen {
	g := &sliceStreamGen{rng: rand.New(rand.NewPCG(seed, 2))}
	for i := range 2 + g.rng.IntN(4) {
		g.names = append(g.names, fmt.Sprintf("web-%c", 'a'+i))
	}
	for i := range 3 + g.rng.IntN(12) {
		addr := fmt.Sprintf("10.0.0.%d", i+1)
		if g.rng.IntN(8) == 0 {
			addr = fmt.Sprintf("fd00::%x", i+1)
		}
		g.addrs = append(g.addrs, addr)
	}
	return g
}

func (g *sliceStreamGen) pick(options ...string) string {
	return options[g.rng.IntN(len(options))]
}

// endpoint renders one endpoint of a slice.
func (g *sliceStreamGen) endpoint() string {
	var conds []string
	for _, c := range []string{"ready", "serving", "terminating"} {
		if v := g.pick("", "true", "false", "null"); v != "" {
			conds = append(conds, fmt.Sprintf("%q:%s", c, v))
		}
	}
	zone := g.pick(``, `,"zone":"z1"`, `,"zone":"z2"`, `,"zone":null`, `,"zone":""`)
	return fmt.Sprintf(`{"addresses":[%q],"conditions":{%s}%s,"nodeName":"n1","targetRef":{"kind":"Pod","name":"p"}}`,
		g.addrs[g.rng.IntN(len(g.addrs))], strings.Join(conds, ","), zone)
}

// slice renders an EndpointSlice.
func (g *sliceStreamGen) slice(name string) string {
	var eps []string
	for range g.rng.IntN(len(g.addrs) + 1) {
		eps = append(eps, g.endpoint())
	}
	ns, svc := "default", "web"
	switch g.rng.IntN(30) {
	case 0:
		svc = "api"
	case 1:
		ns = "prod"
	}
	ann := ""
	switch g.rng.IntN(4) {
	case 0:
	case 1:
		g.when -= g.rng.IntN(5) // backwards: clamped
		fallthrough
	default:
		g.when += g.rng.IntN(3)
		ann = fmt.Sprintf(`,"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2026-01-02T03:%02d:%02dZ"}`,
			10+g.when/60, g.when%60)
	}
	return fmt.Sprintf(`{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":%q,"namespace":%q,`+
		`"labels":{"kubernetes.io/service-name":%q}%s},"addressType":"IPv4","endpoints":[%s],`+
		`"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090}]}`,
		name, ns, svc, ann, strings.Join(eps, ","))
}

// value renders one top-level value: an update.
func (g *sliceStreamGen) value() string {
	name := g.names[g.rng.IntN(len(g.names))]
	var v string
	switch g.rng.IntN(12) {
	case 0, 1:
		v = g.slice(name)
	case 2:
		var items []string
		for _, n := range g.names {
			if g.rng.IntN(3) != 0 {
				items = append(items, g.slice(n))
			}
		}
		v = fmt.Sprintf(`{"kind":%q,"apiVersion":"v1","items":[%s]}`, g.pick("List", "EndpointSliceList"), strings.Join(items, ","))
	case 3:
		v = fmt.Sprintf(`{"type":"DELETED","object":%s}`, g.slice(name))
	case 4:
		v = `{"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":{"resourceVersion":"7"}}}`
	case 5:
		v = fmt.Sprintf(`[{"type":"MODIFIED","object":%s},%s]`, g.slice(name), g.slice(g.names[0]))
	default:
		v = fmt.Sprintf(`{"type":%q,"object":%s}`, g.pick("ADDED", "MODIFIED"), g.slice(name))
	}
	switch g.rng.IntN(40) {
	case 0: // an escape: the careful path
		v = strings.Replace(v, `"zone":"z1"`, `"zone":"z\u0031"`, 1)
	case 1: // a repeated key: the careful path
		v = strings.Replace(v, `"kind":"EndpointSlice",`, `"kind":"Pod","kind":"EndpointSlice",`, 1)
	case 2: // another case
		v = strings.ReplaceAll(v, `"addresses"`, `"Addresses"`)
	case 3: // malformed
		v = strings.Replace(v, `"port":8080`, `"port":80.5`, 1)
	case 4:
		v = strings.Replace(v, `,"ports"`, ` "ports"`, 1)
	}
	if g.rng.IntN(2) == 0 {
		var b bytes.Buffer
		if json.Indent(&b, []byte(v), "", "    ") == nil {
			v = b.String()
		}
	}
	return v
}

// stream renders n values, separated as kubectl separates them.
func (g *sliceStreamGen) stream(n int) []byte {
	var b bytes.Buffer
	for range n {
		b.WriteString(g.value())
		b.WriteString(g.pick("\n", "", " \r\n\t"))
	}
	return b.Bytes()
}

func TestSliceStreamGenCoverage(t *testing.T) {
	// The random streams exercise what they are meant to: flaps, removes
	// and re-adds, endpoints listed by two slices at once, and both the
	// parser and the careful path.
	var kinds [Remove + 1]int
	readds, shared, parsed, declined := 0, 0, 0, 0
	for seed := range uint64(300) {
		g := newSliceStreamGen(seed)
		var p parser
		for range 10 {
			v := g.value()
			if _, ok := p.parse([]byte(v)); ok {
				parsed++
			} else {
				declined++
			}
		}
		r := NewSliceReader(bytes.NewReader(g.stream(30)), SliceOptions{Service: "default/web"})
		removed := map[string]bool{}
		for {
			e, err := r.Next()
			if err != nil {
				break
			}
			kinds[e.Kind]++
			if e.Kind == Add && removed[e.Endpoint] {
				readds++
			}
			removed[e.Endpoint] = e.Kind == Remove
			for _, m := range r.form.(*sliceReader).union.ids {
				if len(m.in) > 1 {
					shared++
				}
			}
		}
	}
	t.Logf("events by kind %v, re-adds %d, shared %d, parsed %d, declined %d", kinds[1:], readds, shared, parsed, declined)
	for k := Add; k <= Remove; k++ {
		assert.Greater(t, kinds[k], 100, "%v events", k)
	}
	assert.Greater(t, readds, 100)
	assert.Greater(t, shared, 100, "endpoints listed by two slices")
	assert.Greater(t, parsed, 2000)
	assert.Greater(t, declined, 100)
}
