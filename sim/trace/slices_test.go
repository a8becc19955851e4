package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ev is shorthand for an expected event.
func ev(at time.Duration, k Kind, endpoint, zone string) Event {
	return Event{At: at, Kind: k, Endpoint: endpoint, Zone: zone}
}

// rollingUpdate is the trace of the rolling update in testdata: two old
// pods in slice web-abc12 and one in web-xyz34 are replaced by two new
// ones, one in each slice. Old pods turn terminating (unready) and then
// leave their slice (remove). The update of web-xyz34 annotated 10:00:14
// arrives after one annotated 10:00:16 and is clamped to 16s.
func rollingUpdate(port string) []Event {
	const s = time.Second
	p := func(ip string) string { return ip + ":" + port }
	return []Event{
		ev(0, Add, p("10.0.1.1"), "zone-a"),
		ev(0, Ready, p("10.0.1.1"), "zone-a"),
		ev(0, Add, p("10.0.1.2"), "zone-b"),
		ev(0, Ready, p("10.0.1.2"), "zone-b"),
		ev(0, Add, p("10.0.1.3"), "zone-a"),
		ev(0, Ready, p("10.0.1.3"), "zone-a"),
		ev(5*s, Add, p("10.0.2.1"), "zone-c"),
		ev(7250*time.Millisecond, Add, p("10.0.2.2"), "zone-b"),
		ev(15*s, Ready, p("10.0.2.1"), "zone-c"),
		ev(16*s, Unready, p("10.0.1.1"), "zone-a"),
		ev(16*s, Ready, p("10.0.2.2"), "zone-b"),
		ev(18*s, Unready, p("10.0.1.3"), "zone-a"),
		ev(46*s, Remove, p("10.0.1.1"), "zone-a"),
		ev(48*s, Remove, p("10.0.1.3"), "zone-a"),
	}
}

func readFile(t *testing.T, name string, opt SliceOptions) ([]Event, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return ReadEndpointSlices(bytes.NewReader(data), opt)
}

func TestReadEndpointSlicesRollingUpdate(t *testing.T) {
	watchTail := []Event{
		// web-xyz34 is deleted (its annotation is its last change, 48s)...
		ev(48*time.Second, Remove, "10.0.2.2:8080", "zone-b"),
		// ...and 10.0.2.2 reappears in web-def56 with no conditions: ready.
		ev(50*time.Second, Add, "10.0.2.2:8080", "zone-b"),
		ev(50*time.Second, Ready, "10.0.2.2:8080", "zone-b"),
	}
	tests := []struct {
		file string
		opt  SliceOptions
		want []Event
	}{
		{"rolling-update.json", SliceOptions{}, rollingUpdate("8080")},
		{"rolling-update-list.json", SliceOptions{}, rollingUpdate("8080")},
		{"rolling-update-list.json", SliceOptions{Service: "web", Port: "metrics"}, rollingUpdate("9090")},
		{"rolling-update-list.json", SliceOptions{Service: "shop/web", Port: "http"}, rollingUpdate("8080")},
		{"rolling-update-watch.json", SliceOptions{}, append(rollingUpdate("8080"), watchTail...)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%+v", tt.file, tt.opt), func(t *testing.T) {
			events, err := readFile(t, tt.file, tt.opt)
			require.NoError(t, err)
			assert.Equal(t, tt.want, events)
			require.NoError(t, Validate(events))
		})
	}
}

func TestReadSniffs(t *testing.T) {
	data, err := os.ReadFile("testdata/rolling-update-watch.json")
	require.NoError(t, err)
	want, err := ReadEndpointSlices(bytes.NewReader(data), SliceOptions{})
	require.NoError(t, err)

	for _, prefix := range []string{"", "\n\n  \t", "\uFEFF"} {
		got, err := Read(strings.NewReader(prefix+string(data)), SliceOptions{})
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	got, err := Read(strings.NewReader("["+strings.ReplaceAll(string(data), "}\n{", "},\n{")+"]"), SliceOptions{})
	require.NoError(t, err, "a JSON array of watch events")
	assert.Equal(t, want, got)

	got, err = Read(strings.NewReader("\n"+sampleCSV), SliceOptions{})
	require.NoError(t, err)
	want, err = ReadCSV(strings.NewReader(sampleCSV))
	require.NoError(t, err)
	assert.Equal(t, want, got)

	_, err = Read(strings.NewReader("\n\n0,raedy,a\n"), SliceOptions{})
	require.EqualError(t, err, `trace: line 3: unknown event "raedy" (want add, ready, unready or remove)`,
		"blank lines skipped while sniffing still count")

	got, err = Read(strings.NewReader(" \n "), SliceOptions{})
	require.NoError(t, err)
	assert.Empty(t, got)

	boom := errors.New("boom")
	_, err = Read(&failingReader{data: "  ", err: boom}, SliceOptions{})
	require.ErrorIs(t, err, boom)
}

// slice returns a minimal EndpointSlice as one line of JSON.
func slice(name, service, trigger, endpoints string) string {
	ann := ""
	if trigger != "" {
		ann = fmt.Sprintf(`,"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":%q}`, trigger)
	}
	return fmt.Sprintf(`{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",`+
		`"metadata":{"name":%q,"namespace":"default","labels":{"kubernetes.io/service-name":%q}%s},`+
		`"addressType":"IPv4","endpoints":[%s],"ports":[{"name":"http","port":80}]}`, name, service, ann, endpoints)
}

func TestReadEndpointSlicesRules(t *testing.T) {
	const (
		ready   = `{"addresses":["10.0.0.1"],"conditions":{"ready":true}}`
		nilCond = `{"addresses":["10.0.0.1"]}`
		unready = `{"addresses":["10.0.0.1"],"conditions":{"ready":false}}`
		noServe = `{"addresses":["10.0.0.1"],"conditions":{"serving":false}}`
		term    = `{"addresses":["10.0.0.1"],"conditions":{"ready":true,"terminating":true}}`
		other   = `{"addresses":["10.0.0.2"],"zone":"z2"}`
	)
	a := "10.0.0.1:80"
	tests := []struct {
		name string
		in   []string
		opt  SliceOptions
		want []Event
	}{
		{"nil ready is ready", []string{slice("s", "web", "", nilCond)}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}},
		{"unready", []string{slice("s", "web", "", unready), slice("s", "web", "", ready), slice("s", "web", "", unready)}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(time.Second, Ready, a, ""), ev(2*time.Second, Unready, a, "")}},
		{"serving false", []string{slice("s", "web", "", noServe)}, SliceOptions{}, []Event{ev(0, Add, a, "")}},
		{"terminating", []string{slice("s", "web", "", ready), slice("s", "web", "", term), slice("s", "web", "", "")},
			SliceOptions{Interval: 250 * time.Millisecond},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, ""), ev(250*time.Millisecond, Unready, a, ""), ev(500*time.Millisecond, Remove, a, "")}},
		{"no change, time moves", []string{slice("s", "web", "", ready), slice("s", "web", "", ready), slice("s", "web", "", ready+","+other)}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, ""), ev(2*time.Second, Add, "10.0.0.2:80", "z2"), ev(2*time.Second, Ready, "10.0.0.2:80", "z2")}},
		{"union of slices", []string{slice("s1", "web", "", unready), slice("s2", "web", "", ready), slice("s2", "web", "", ""), slice("s1", "web", "", "")}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(time.Second, Ready, a, ""), ev(2*time.Second, Unready, a, ""), ev(3*time.Second, Remove, a, "")}},
		{"other service skipped", []string{slice("s", "web", "", ready), slice("o", "api", "", other)}, SliceOptions{Service: "web"},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}},
		{"annotated times", []string{
			slice("s", "web", "2026-01-02T03:04:05.5Z", unready),
			slice("s", "web", "", ready),
			slice("s", "web", "2026-01-02T03:04:05Z", unready),      // backwards: clamped
			slice("s", "web", "2026-01-02T04:04:05.5+01:00", ready), // same instant as the first: clamped
			slice("s", "web", "2026-01-02T03:05:05.5Z", unready),
		}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(time.Second, Ready, a, ""), ev(time.Second, Unready, a, ""), ev(time.Second, Ready, a, ""), ev(time.Minute, Unready, a, "")}},
		{"first annotation after unannotated", []string{slice("s", "web", "", unready), slice("s", "web", "2026-01-02T03:04:05Z", ready), slice("s", "web", "2026-01-02T03:04:07Z", unready)}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(time.Second, Ready, a, ""), ev(3*time.Second, Unready, a, "")}},
		{"ipv6 and no ports", []string{
			`{"kind":"EndpointSlice","metadata":{"name":"v6"},"addressType":"IPv6","endpoints":[{"addresses":["fd00::1"]}],"ports":[{"port":8080}]}`,
			`{"kind":"EndpointSlice","metadata":{"name":"bare"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.9"]}]}`,
		}, SliceOptions{},
			[]Event{ev(0, Add, "[fd00::1]:8080", ""), ev(0, Ready, "[fd00::1]:8080", ""), ev(time.Second, Add, "10.0.0.9", ""), ev(time.Second, Ready, "10.0.0.9", "")}},
		{"watch events", []string{
			`{"type":"ADDED","object":` + slice("s", "web", "", ready) + `}`,
			`{"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":{"resourceVersion":"7"}}}`,
			`{"type":"DELETED","object":` + slice("s", "web", "", ready) + `}`,
		}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, ""), ev(time.Second, Remove, a, "")}},
		{"empty list", []string{`{"kind":"List","apiVersion":"v1","items":[]}`}, SliceOptions{}, nil},
		{"lists are snapshots", []string{
			`{"kind":"List","items":[` + slice("s1", "web", "", ready) + "," + slice("s2", "web", "", other) + `]}`,
			`{"kind":"EndpointSliceList","items":[` + slice("s2", "web", "", other) + `]}`,
			`{"kind":"List","items":[]}`,
		}, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, ""), ev(0, Add, "10.0.0.2:80", "z2"), ev(0, Ready, "10.0.0.2:80", "z2"),
				ev(time.Second, Remove, a, ""), ev(2*time.Second, Remove, "10.0.0.2:80", "z2")}},
		{"empty slice", []string{`{"kind":"EndpointSlice","metadata":{"name":"s"},"endpoints":null,"ports":null}`}, SliceOptions{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ReadEndpointSlices(strings.NewReader(strings.Join(tt.in, "\n")), tt.opt)
			require.NoError(t, err)
			assert.Equal(t, tt.want, events)
			require.NoError(t, Validate(events))
		})
	}
}

func TestReadEndpointSlicesTruncated(t *testing.T) {
	data, err := os.ReadFile("testdata/rolling-update.json")
	require.NoError(t, err)
	// Cut the stream inside the 5th object (the update at 15s).
	cut := 0
	for range 4 {
		cut += bytes.Index(data[cut:], []byte("\n}\n")) + 3
	}
	start := cut
	cut += 200
	events, err := ReadEndpointSlices(bytes.NewReader(data[:cut]), SliceOptions{})
	require.ErrorIs(t, err, ErrTruncated)
	line := 1 + bytes.Count(data[:cut], []byte("\n"))
	startLine := 1 + bytes.Count(data[:start], []byte("\n"))
	assert.Equal(t, fmt.Sprintf("trace: line %d (byte %d): the input ends inside the JSON value that starts at line %d (byte %d), "+
		"after 4 complete JSON values and 8 events: trace: truncated input", line, cut, startLine, start), err.Error())
	assert.Equal(t, rollingUpdate("8080")[:8], events, "the events before the cut")

	for _, in := range []string{`{"kind":"EndpointSlice"`, `{"type":"ADDED","object":{`, `[{"kind":"EndpointSlice","metadata":{"name":"x"}}`, `"abc`} {
		events, err := ReadEndpointSlices(strings.NewReader(in), SliceOptions{})
		require.ErrorIs(t, err, ErrTruncated, in)
		assert.Contains(t, err.Error(), fmt.Sprintf("trace: line 1 (byte %d): the input ends inside the JSON value that starts at line 1 (byte 0), after 0 complete JSON values", len(in)))
		assert.Empty(t, events)
	}
}

func TestReadEndpointSlicesErrors(t *testing.T) {
	web := slice("s", "web", "", `{"addresses":["10.0.0.1"]}`)
	tests := []struct {
		name string
		in   string
		opt  SliceOptions
		kind error
		msg  string
	}{
		{"two services", slice("b", "web", "", "") + "\n" + slice("a", "api", "", "") + "\n" + web, SliceOptions{}, ErrService,
			"trace: the stream holds EndpointSlices of 2 services (default/api, default/web); choose one with SliceOptions.Service"},
		{"unlabelled and labelled", `{"kind":"EndpointSlice","metadata":{"name":"x"}}` + web, SliceOptions{}, ErrService,
			"trace: the stream holds EndpointSlices of 2 services ((no kubernetes.io/service-name label), default/web)"},
		{"service absent", web, SliceOptions{Service: "api"}, ErrService,
			`trace: no EndpointSlices of service "api" in the stream (it holds default/web)`},
		{"name in two namespaces", web + strings.Replace(web, `"default"`, `"prod"`, 1), SliceOptions{Service: "web"}, ErrService,
			`trace: service "web" matches 2 services (default/web, prod/web); name one as namespace/name`},
		{"pod", "\n\n  {\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}", SliceOptions{}, ErrSyntax,
			"trace: line 3 (byte 4): found a Pod, not an EndpointSlice"},
		{"pod in watch event", web + "\n" + `{"type":"MODIFIED","object":{"kind":"Pod"}}`, SliceOptions{}, ErrSyntax,
			fmt.Sprintf("trace: line 2 (byte %d): found a Pod, not an EndpointSlice", len(web)+29)},
		{"pod list", `{"kind":"PodList","items":[]}`, SliceOptions{}, ErrSyntax, "trace: line 1 (byte 0): found a PodList, not EndpointSlices"},
		{"pod in list", "{\"kind\":\"List\",\"items\":[\n" + web + ",\n{\"kind\":\"Pod\"}]}", SliceOptions{}, ErrSyntax,
			fmt.Sprintf("trace: line 3 (byte %d): found a Pod, not an EndpointSlice", 25+len(web)+2)},
		{"number in list", `{"kind":"List","items":[{"kind":"EndpointSlice","metadata":{"name":"s"}}, 7]}`, SliceOptions{}, ErrSyntax,
			"trace: line 1 (byte 74): JSON number is not an EndpointSlice"},
		{"null object", `{"type":"ADDED","object":null}`, SliceOptions{}, ErrSyntax, "trace: line 1 (byte 25): JSON null is not an EndpointSlice"},
		{"string in array", `[{"kind":"EndpointSlice","metadata":{"name":"s"}},"x"]`, SliceOptions{}, ErrSyntax,
			"trace: line 1 (byte 50): JSON string is not an object (want EndpointSlices)"},
		{"no kind", `{"metadata":{"name":"s"}}`, SliceOptions{}, ErrSyntax, "trace: line 1 (byte 0): object without a kind (want EndpointSlice)"},
		{"not an object", "\n42", SliceOptions{}, ErrSyntax, "trace: line 2 (byte 1): JSON number is not an object (want EndpointSlices)"},
		{"nested array", "[[]]", SliceOptions{}, ErrSyntax, "trace: line 1 (byte 1): nested JSON array (want EndpointSlices)"},
		{"bad json", web + "\n{\"kind\" \"x\"}", SliceOptions{}, ErrSyntax,
			fmt.Sprintf("trace: line 2 (byte %d): invalid character '\"' after object key (in the JSON value that starts at line 2 (byte %d), after 1 complete JSON values and 2 events)", len(web)+9, len(web)+1)},
		{"wrong type", `{"kind":"EndpointSlice","metadata":{"name":"s"},"endpoints":"x"}`, SliceOptions{}, ErrSyntax, "trace: line 1 (byte 0): EndpointSlice: json: cannot unmarshal"},
		{"no name", `{"kind":"EndpointSlice","metadata":{}}`, SliceOptions{}, ErrSyntax, "trace: line 1 (byte 0): EndpointSlice without metadata.name"},
		{"no address", slice("s", "web", "", `{"addresses":[]}`), SliceOptions{}, ErrSyntax, "trace: line 1 (byte 0): EndpointSlice s: endpoint 0 has no address"},
		{"no such port", web, SliceOptions{Port: "grpc"}, ErrSyntax, `trace: line 1 (byte 0): EndpointSlice s has no port named "grpc" (it has "http")`},
		{"port without number", `{"kind":"EndpointSlice","metadata":{"name":"s"},"endpoints":[{"addresses":["10.0.0.1"]}],"ports":[{"name":"http"}]}`, SliceOptions{}, ErrSyntax,
			`trace: line 1 (byte 0): EndpointSlice s: port "http" has no valid number`},
		{"bad trigger time", slice("s", "web", "yesterday", ""), SliceOptions{}, ErrSyntax,
			`trace: line 1 (byte 0): EndpointSlice s: endpoints.kubernetes.io/last-change-trigger-time "yesterday" is not an RFC 3339 time`},
		{"watch error", `{"type":"ERROR","object":{"kind":"Status","message":"too old resource version"}}`, SliceOptions{}, ErrSyntax,
			`trace: line 1 (byte 0): watch error: "too old resource version"`},
		{"unknown watch type", `{"type":"CHANGED","object":{}}`, SliceOptions{}, ErrSyntax, `trace: line 1 (byte 0): unknown watch event type "CHANGED"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ReadEndpointSlices(strings.NewReader(tt.in), tt.opt)
			require.Error(t, err)
			assert.Nil(t, events)
			assert.ErrorIs(t, err, tt.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tt.msg), "error\n%q\ndoes not start with\n%q", err, tt.msg)
		})
	}
}

// nthValueEnd returns the offset of the end of the nth JSON value in data,
// or len(data).
func nthValueEnd(data []byte, n int) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	for range n {
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return len(data)
		}
	}
	return int(dec.InputOffset())
}

func FuzzReadEndpointSlices(f *testing.F) {
	f.Add(slice("s", "web", "2026-01-02T03:04:05Z", `{"addresses":["10.0.0.1"],"conditions":{"ready":false}}`))
	f.Add(`{"type":"DELETED","object":` + slice("s", "web", "", `{"addresses":["10.0.0.1"]}`) + `}`)
	f.Add(`{"kind":"List","items":[` + slice("a", "web", "", `{"addresses":["fd00::1"]}`) + `]}` + slice("a", "web", "", ""))
	f.Add(`[{"kind":"EndpointSlice","metadata":{"name":"x"},"endpoints":[{"addresses":["a"]},{"addresses":["a"],"conditions":{"terminating":true}}]}]`)
	f.Add(slice("a", "web", "", `{"addresses":["10.0.0.1"],"zone":"z"}`) + slice("b", "web", "", `{"addresses":["10.0.0.1"],"zone":"y","conditions":{"ready":false}}`) +
		`{"type":"DELETED","object":` + slice("a", "web", "", "") + `}`)
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		// The first two values: whole files make the fuzzer slow.
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(string(data[:nthValueEnd(data, 2)]))
	}
	for seed := range uint64(8) {
		f.Add(string(newSliceStreamGen(seed).stream(4)))
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 16<<10 {
			return
		}
		events, err := ReadEndpointSlices(strings.NewReader(in), SliceOptions{})
		if err != nil {
			require.True(t, errors.Is(err, ErrSyntax) || errors.Is(err, ErrService) || errors.Is(err, ErrTruncated), "unexpected error %v", err)
			if !errors.Is(err, ErrTruncated) {
				require.Nil(t, events)
			}
		}
		require.NoError(t, Validate(events))
		for i := 1; i < len(events); i++ {
			require.LessOrEqual(t, events[i-1].At, events[i].At)
		}
		// The old reader gives the same, and so does the Reader, whole, a
		// byte and half a read at a time.
		requireSameAsOracle(t, []byte(in), SliceOptions{})
		requireSameAsOracle(t, []byte(in), SliceOptions{Service: "web", Port: "http"})
	})
}
