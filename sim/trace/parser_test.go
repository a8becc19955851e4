package trace

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireParsesAsJSON checks the parser's contract on in: if it takes a
// value, the value is one valid JSON value, the one json.Decoder reads, and
// what the parser says of it is what encoding/json decodes into the types
// of the careful path. If it declines for want of input, in is a prefix of
// that value.
func requireParsesAsJSON(t *testing.T, in []byte) {
	t.Helper()
	var p parser
	n, ok := p.parse(in)
	if !ok {
		if p.short {
			var raw json.RawMessage
			err := json.NewDecoder(bytes.NewReader(in)).Decode(&raw)
			if err == nil {
				t.Fatalf("the parser wants more than the value %s", raw)
			}
		}
		return
	}
	raw := in[:n]
	require.True(t, json.Valid(raw), "the parser took invalid JSON %q", raw)
	dec := json.NewDecoder(bytes.NewReader(in))
	var whole json.RawMessage
	require.NoError(t, dec.Decode(&whole))
	require.Equal(t, int64(n), dec.InputOffset(), "the parser's value ends elsewhere than the decoder's")

	var env envelope
	require.NoError(t, json.Unmarshal(raw, &env))
	assert.Equal(t, env.Type, string(p.v.typ))
	assert.Equal(t, env.Kind, string(p.v.self.kind))
	var self endpointSlice
	require.NoError(t, json.Unmarshal(raw, &self), "the parser took a value whose slice fields do not decode")
	requireSameSlice(t, &p, &self, &p.v.self)

	assert.Equal(t, env.Object != nil && string(env.Object) != "null", p.v.hasObject)
	if p.v.hasObject {
		var obj endpointSlice
		require.NoError(t, json.Unmarshal(env.Object, &obj))
		requireSameSlice(t, &p, &obj, &p.slices[p.v.object])
	}
	items := p.slices[p.v.items[0]:p.v.items[1]]
	require.Len(t, items, len(env.Items))
	for i, item := range env.Items {
		var s endpointSlice
		require.NoError(t, json.Unmarshal(item, &s))
		requireSameSlice(t, &p, &s, &items[i])
	}
}

// requireSameSlice checks that the parser's r says of a slice what
// encoding/json decoded into s.
func requireSameSlice(t *testing.T, p *parser, s *endpointSlice, r *rawSlice) {
	t.Helper()
	assert.Equal(t, s.Kind, string(r.kind))
	assert.Equal(t, s.Metadata.Name, string(r.name))
	assert.Equal(t, s.Metadata.Namespace, string(r.namespace))
	svc, ok := s.Metadata.Labels[serviceLabel]
	assert.Equal(t, ok, r.hasService)
	assert.Equal(t, svc, string(r.service))
	trigger, ok := s.Metadata.Annotations[triggerAnnotation]
	assert.Equal(t, ok, r.hasTrigger)
	assert.Equal(t, trigger, string(r.trigger))

	eps := p.eps[r.eps[0]:r.eps[1]]
	require.Len(t, eps, len(s.Endpoints))
	for i, ep := range s.Endpoints {
		e := eps[i]
		require.Equal(t, len(ep.Addresses) > 0, e.hasAddr)
		if e.hasAddr {
			assert.Equal(t, ep.Addresses[0], string(e.addr))
		}
		c := ep.Conditions
		assert.Equal(t, triOf(c.Ready), e.ready)
		assert.Equal(t, triOf(c.Serving), e.serving)
		assert.Equal(t, triOf(c.Terminating), e.terminating)
		require.Equal(t, ep.Zone != nil, e.hasZone)
		if e.hasZone {
			assert.Equal(t, *ep.Zone, string(e.zone))
		}
	}
	ports := p.ports[r.ports[0]:r.ports[1]]
	require.Len(t, ports, len(s.Ports))
	for i, port := range s.Ports {
		pt := ports[i]
		require.Equal(t, port.Name != nil, pt.hasName)
		if pt.hasName {
			assert.Equal(t, *port.Name, string(pt.name))
		}
		require.Equal(t, port.Port != nil, pt.hasPort)
		if pt.hasPort {
			assert.Equal(t, int64(*port.Port), pt.port)
		}
	}
}

func triOf(b *bool) tri {
	switch {
	case b == nil:
		return triAbsent
	case *b:
		return triTrue
	}
	return triFalse
}

func TestParser(t *testing.T) {
	web := slice("s", "web", "2026-01-02T03:04:05Z", `{"addresses":["10.0.0.1","10.0.0.2"],"conditions":{"ready":false,"serving":null},"zone":"z","hints":{"forZones":[{"name":"z"}]}}`)
	takes := []string{
		web,
		`{"type":"MODIFIED","object":` + web + `,"extra":[1,-2.5e+3,true,false,null,"\u00e9\n",{}]}`,
		`{"kind":"List","items":[` + web + `,{"metadata":{"name":"t"}}],"metadata":{}}`,
		`{"kind":"List","items":null}`,
		"{ \"KIND\" :\t\"EndpointSlice\" ,\r\n\"Metadata\":{\"Name\":\"s\",\"labels\":null},\"endpoints\":[],\"ports\":[{\"Port\":-2147483648}]}",
		`{"kind":"EndpointSlice","metadata":{"name":"é","labels":{"kubernetes.io/service-name":"a","kubernetes.io/service-name":"b"}}}`,
		`{}`,
		`{"type":"ADDED","object":null}`, // fast leaves it to value
	}
	for _, in := range takes {
		var p parser
		_, ok := p.parse([]byte(in))
		assert.True(t, ok, "the parser declines %s", in)
		requireParsesAsJSON(t, []byte(in))
	}
	// The parser takes the values of the watch of the scale test, laid out
	// as kubectl lays them out, itself.
	g := newWatchGen(3, 10, 10, 1)
	data, err := io.ReadAll(g)
	require.NoError(t, err)
	for len(bytes.TrimSpace(data)) > 0 {
		var p parser
		n, ok := p.parse(data)
		require.True(t, ok, "the parser declines %s", data)
		data = data[n:]
	}

	declines := []string{
		`{"kind":"EndpointSlice","kind":"EndpointSlice"}`,        // repeated
		`{"kind":"EndpointSlice","Kind":"EndpointSlice"}`,        // repeated, in another case
		`{"kind":"List","items":[null]}`,                         // null item
		`{"kind":"EndpointSlice","metadata":{"name":"s\u0041"}}`, // escape
		`{"ki\u006ed":"EndpointSlice"}`,                          // escaped key
		"{\"kind\":\"Endpoint\xffSlice\"}",                       // invalid UTF-8
		`{"kind":5}`,                                             // wrong type
		`{"ports":[{"port":80.0}]}`,                              // not an integer
		`{"ports":[{"port":2147483648}]}`,                        // beyond int32
		`{"metadata":{"labels":{"a":null}}}`,                     // null label
		`{"endpoints":[{"addresses":[null]}]}`,                   // null address
		`{"a":01}`,                                               // bad number
		`{"a":[1,]}`,                                             // bad array
		`{"a":"\x01"}`,                                           // control character
		`{"a":"\q"}`,                                             // bad escape
		`[]`,                                                     // not an object
		strings.Repeat(`{"a":`, maxDepth+1) + strings.Repeat("}", maxDepth+1), // too deep
	}
	for _, in := range declines {
		var p parser
		_, ok := p.parse([]byte(in))
		assert.False(t, ok, "the parser takes %s", in)
		assert.False(t, p.short, "the parser wants more of %s", in)
	}
	for i := range len(web) {
		var p parser
		_, ok := p.parse([]byte(web[:i]))
		assert.False(t, ok)
		assert.True(t, p.short, "the parser does not want more of %s", web[:i])
	}
}

func FuzzParser(f *testing.F) {
	f.Add(slice("s", "web", "2026-01-02T03:04:05Z", `{"addresses":["10.0.0.1"],"conditions":{"ready":false},"zone":null}`))
	f.Add(`{"type":"ADDED","object":{"kind":"EndpointSlice","metadata":{"name":"s"},"ports":[{"name":null,"port":1}]}}`)
	f.Add(`{"kind":"List","items":[{"endpoints":[{"addresses":[]}]}],"x":[{"y":"\u0000"},-0.1e-2]}`)
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(string(data[:nthValueEnd(data, 1)]))
	}
	f.Fuzz(func(t *testing.T, in string) {
		requireParsesAsJSON(t, []byte(in))
	})
}

func BenchmarkParser(b *testing.B) {
	// One update of the watch of the scale test: a slice of 100
	// endpoints, as kubectl lays it out.
	data, err := io.ReadAll(newWatchGen(1, 100, 1, 1))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var p parser
	for b.Loop() {
		if _, ok := p.parse(data); !ok {
			b.Fatal("declined")
		}
	}
}
