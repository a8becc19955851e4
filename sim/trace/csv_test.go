package trace

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleCSV = `time,event,endpoint,weight,zone
# the old pod, ready from the start
0,ready,10.0.1.7:8080,,zone-a

1.5s,add,10.0.2.9:8080,3,zone-b
11.5,ready,10.0.2.9:8080
12s,unready,10.0.1.7:8080
42s,remove,10.0.1.7:8080
`

func TestReadCSV(t *testing.T) {
	events, err := ReadCSV(strings.NewReader(sampleCSV))
	require.NoError(t, err)
	assert.Equal(t, []Event{
		{At: 0, Kind: Add, Endpoint: "10.0.1.7:8080", Zone: "zone-a"},
		{At: 0, Kind: Ready, Endpoint: "10.0.1.7:8080", Zone: "zone-a"},
		{At: 1500 * time.Millisecond, Kind: Add, Endpoint: "10.0.2.9:8080", Weight: 3, Zone: "zone-b"},
		{At: 11500 * time.Millisecond, Kind: Ready, Endpoint: "10.0.2.9:8080"},
		{At: 12 * time.Second, Kind: Unready, Endpoint: "10.0.1.7:8080"},
		{At: 42 * time.Second, Kind: Remove, Endpoint: "10.0.1.7:8080"},
	}, events)
	require.NoError(t, Validate(events))
}

func TestReadCSVForms(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"empty", "", nil},
		{"only comments", "# nothing\n\n   \n", nil},
		{"header only", "time,event,endpoint\n", nil},
		{"no header, no newline", "1,add,a", []Event{{At: time.Second, Kind: Add, Endpoint: "a"}}},
		{"crlf and spaces", " 2m , add , a , 7 , z \r\n", []Event{{At: 2 * time.Minute, Kind: Add, Endpoint: "a", Weight: 7, Zone: "z"}}},
		{"byte order mark", "\uFEFFtime,event,endpoint\n0.1,add,a\n", []Event{{At: 100 * time.Millisecond, Kind: Add, Endpoint: "a"}}},
		{"exact decimals", "0.1,add,a\n12.25,remove,a\n", []Event{
			{At: 100 * time.Millisecond, Kind: Add, Endpoint: "a"},
			{At: 12250 * time.Millisecond, Kind: Remove, Endpoint: "a"},
		}},
		{"empty weight, zone", "1,add,a,,z\n", []Event{{At: time.Second, Kind: Add, Endpoint: "a", Zone: "z"}}},
		{"max weight", "1,add,a,4294967295\n", []Event{{At: time.Second, Kind: Add, Endpoint: "a", Weight: 1<<32 - 1}}},
		{"ready implies add", "250ms,ready,[fd00::1]:8080,2\n", []Event{
			{At: 250 * time.Millisecond, Kind: Add, Endpoint: "[fd00::1]:8080", Weight: 2},
			{At: 250 * time.Millisecond, Kind: Ready, Endpoint: "[fd00::1]:8080", Weight: 2},
		}},
		{"re-add after remove", "0,add,a\n1,remove,a\n2,ready,a\n", []Event{
			{At: 0, Kind: Add, Endpoint: "a"},
			{At: time.Second, Kind: Remove, Endpoint: "a"},
			{At: 2 * time.Second, Kind: Add, Endpoint: "a"},
			{At: 2 * time.Second, Kind: Ready, Endpoint: "a"},
		}},
		{"remove while ready", "0,ready,a\n1,remove,a\n", []Event{
			{At: 0, Kind: Add, Endpoint: "a"},
			{At: 0, Kind: Ready, Endpoint: "a"},
			{At: time.Second, Kind: Remove, Endpoint: "a"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ReadCSV(strings.NewReader(tt.in))
			require.NoError(t, err)
			assert.Equal(t, tt.want, events)
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind error
		msg  string
	}{
		{"unknown event", "time,event,endpoint\n0,add,a\n\n# x\n\n\n1,raedy,a\n", ErrSyntax,
			`trace: line 7: unknown event "raedy" (want add, ready, unready or remove)`},
		{"truncated inside event", "0,add,a\n1.5s,rea", ErrSyntax, `trace: line 2: unknown event "rea"`},
		{"truncated after time", "0,add,a\n1.5s", ErrSyntax, "trace: line 2: missing event"},
		{"truncated after event", "0,add,a\n1.5s,ready,", ErrSyntax, "trace: line 2: empty endpoint"},
		{"out of order", "5s,add,a\n\n4s,add,b\n", ErrOrder, "trace: line 3: time 4s is before 5s at line 1"},
		{"negative", "-1s,add,a\n", ErrSyntax, `trace: line 1: negative time "-1s"`},
		{"negative seconds", "0,add,a\n-0.5,add,b\n", ErrSyntax, `trace: line 2: negative time "-0.5"`},
		{"NaN", "NaN,add,a\n", ErrSyntax, `trace: line 1: time "NaN" is not finite`},
		{"Inf", "+Inf,add,a\n", ErrSyntax, `trace: line 1: time "+Inf" is not finite`},
		{"bad time", "1x,add,a\n", ErrSyntax, `trace: line 1: invalid time "1x"`},
		{"exponent", "1e3,add,a\n", ErrSyntax, `trace: line 1: invalid time "1e3"`},
		{"empty time", ",add,a\n", ErrSyntax, "trace: line 1: empty time"},
		{"huge seconds", "99999999999999999999,add,a\n", ErrSyntax, "trace: line 1: time \"99999999999999999999\" is out of range"},
		{"empty endpoint", "0,add, ,1\n", ErrSyntax, "trace: line 1: empty endpoint"},
		{"space in endpoint", "0,add,a b\n", ErrSyntax, `trace: line 1: endpoint "a b" holds`},
		{"weight too big", "0,add,a,4294967296\n", ErrSyntax, `trace: line 1: weight "4294967296" is not an integer from 0 to 4294967295`},
		{"weight negative", "0,add,a,-1\n", ErrSyntax, `trace: line 1: weight "-1"`},
		{"weight float", "0,add,a,1.5\n", ErrSyntax, `trace: line 1: weight "1.5"`},
		{"too many columns", "0,add,a,1,z,extra\n", ErrSyntax, "trace: line 1: 6 columns (want time,event,endpoint[,weight][,zone])"},
		{"too few columns", "0,add\n", ErrSyntax, "trace: line 1: missing endpoint"},
		{"bad header", "time,endpoint,event\n", ErrSyntax, `trace: line 1: malformed header "time,endpoint,event"`},
		{"late header", "0,add,a\ntime,event,endpoint\n", ErrSyntax, `trace: line 2: invalid time "time"`},
		{"add twice", "0,add,a\n1,add,a\n", ErrOrder, `trace: line 2: add of "a", which already exists`},
		{"ready twice", "0,ready,a\n1,ready,a\n", ErrOrder, `trace: line 2: ready of "a", which is already ready`},
		{"unready unknown", "0,unready,a\n", ErrOrder, `trace: line 1: unready of "a", which is not ready`},
		{"unready not ready", "0,add,a\n0,unready,a\n", ErrOrder, `trace: line 2: unready of "a", which is not ready`},
		{"remove unknown", "0,add,a\n1,remove,b\n", ErrOrder, `trace: line 2: remove of unknown endpoint "b"`},
		{"remove twice", "0,add,a\n1,remove,a\n2,remove,a\n", ErrOrder, `trace: line 3: remove of unknown endpoint "a"`},
		{"line too long", "0,add," + strings.Repeat("a", maxLine) + "\n", ErrSyntax, "trace: line 1: line longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ReadCSV(strings.NewReader(tt.in))
			require.Error(t, err)
			assert.Nil(t, events)
			assert.ErrorIs(t, err, tt.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tt.msg), "error %q does not start with %q", err, tt.msg)
		})
	}
}

func TestReadCSVReaderError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadCSV(&failingReader{data: "0,add,a\n", err: boom})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "trace: line 2: boom", err.Error())
}

// failingReader returns data, then err.
type failingReader struct {
	data string
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestWriteCSVRoundTrip(t *testing.T) {
	events := []Event{
		{At: 0, Kind: Add, Endpoint: "10.0.0.1:80", Zone: "a"},
		{At: 0, Kind: Ready, Endpoint: "10.0.0.1:80"},
		{At: time.Nanosecond, Kind: Add, Endpoint: "[fd00::1]:80", Weight: 1<<32 - 1},
		{At: 250 * time.Millisecond, Kind: Ready, Endpoint: "[fd00::1]:80", Weight: 5, Zone: "b"},
		{At: 2 * time.Minute, Kind: Unready, Endpoint: "10.0.0.1:80"},
		{At: 2*time.Minute + 1, Kind: Ready, Endpoint: "10.0.0.1:80"},
		{At: time.Hour + 30*time.Second, Kind: Remove, Endpoint: "10.0.0.1:80"},
		{At: 1<<63 - 1, Kind: Remove, Endpoint: "[fd00::1]:80"},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteCSV(&buf, events))
	assert.Equal(t, `time,event,endpoint,weight,zone
0,add,10.0.0.1:80,,a
0,ready,10.0.0.1:80
0.000000001,add,[fd00::1]:80,4294967295
0.25,ready,[fd00::1]:80,5,b
120,unready,10.0.0.1:80
120.000000001,ready,10.0.0.1:80
3630,remove,10.0.0.1:80
9223372036.854775807,remove,[fd00::1]:80
`, buf.String())
	back, err := ReadCSV(&buf)
	require.NoError(t, err)
	assert.Equal(t, events, back)

	var empty bytes.Buffer
	require.NoError(t, WriteCSV(&empty, nil))
	back, err = ReadCSV(&empty)
	require.NoError(t, err)
	assert.Empty(t, back)
}

func TestWriteCSVRejects(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		kind   error
		msg    string
	}{
		{"invalid kind", []Event{{Endpoint: "a"}}, ErrSyntax, "trace: event 0: invalid kind Kind(0)"},
		{"comma", []Event{{Kind: Add, Endpoint: "a,b"}}, ErrSyntax, `trace: event 0: endpoint "a,b" holds a comma`},
		{"newline in zone", []Event{{Kind: Add, Endpoint: "a", Zone: "z\n"}}, ErrSyntax, `trace: event 0: zone "z\n" holds`},
		{"negative", []Event{{At: -1, Kind: Add, Endpoint: "a"}}, ErrSyntax, "trace: event 0: negative time -1ns"},
		{"implied add", []Event{{Kind: Ready, Endpoint: "a"}}, ErrOrder, `trace: event 0: ready of unknown endpoint "a" (add it first)`},
		{"backwards", []Event{{At: 2, Kind: Add, Endpoint: "a"}, {At: 1, Kind: Add, Endpoint: "b"}}, ErrOrder,
			"trace: event 1: time 1ns is before 2ns of event 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteCSV(&buf, tt.events)
			require.ErrorIs(t, err, tt.kind)
			assert.True(t, strings.HasPrefix(err.Error(), tt.msg), "error %q does not start with %q", err, tt.msg)
			assert.Zero(t, buf.Len(), "wrote output despite the error")
		})
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add(sampleCSV)
	f.Add("0,ready,a\n1.5s,unready,a,3,z\n2,remove,a")
	f.Add("time,event,endpoint\n1.5s,rea")
	f.Add("NaN,add,a\n-1,add,b\n1e9,add,c")
	f.Add("\uFEFF \n\r\n# c\n0,add,a\n0,remove,a\n0,ready,a\n")
	f.Add(" \n\xef\n0,add,a")
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 4096 {
			return
		}
		events, err := ReadCSV(strings.NewReader(in))

		// The old reader gives the same; so does Read, which sniffs.
		want, wantErr := oldReadCSV(strings.NewReader(in))
		requireSameResult(t, want, wantErr, events, err)
		want, wantErr = oldRead(strings.NewReader(in), SliceOptions{})
		got, gotErr := Read(strings.NewReader(in), SliceOptions{})
		requireSameResult(t, want, wantErr, got, gotErr)

		// The Reader returns the same events, or those before the same
		// error, however the input arrives.
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			stream, streamErr := readAll(NewCSVReader(r))
			require.NoError(t, Validate(stream))
			if err != nil {
				require.EqualError(t, streamErr, err.Error())
				continue
			}
			require.NoError(t, streamErr)
			require.Equal(t, events, stream)
		}

		if err != nil {
			require.Nil(t, events)
			require.True(t, errors.Is(err, ErrSyntax) || errors.Is(err, ErrOrder), "unexpected error %v", err)
			return
		}
		require.NoError(t, Validate(events))
		var buf bytes.Buffer
		require.NoError(t, WriteCSV(&buf, events))
		back, err := ReadCSV(&buf)
		require.NoError(t, err)
		if len(events) == 0 {
			require.Empty(t, back)
		} else {
			require.Equal(t, events, back)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"0", "12.25", "+1.5", ".5", "5.", ".", "+", "0001", "999999999.999999999", "1000000000",
		"0.0000000001", "-0", "-0.5", "1e3", "1.5s", "250ms", "NaN", "+-1", "1.2.3", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		want, wantErr := oldParseTime(s)
		got, err := parseTime(s)
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error())
			return
		}
		require.NoError(t, err)
		require.Equal(t, want, got, "%q", s)
	})
}

func TestParseTimeAllocs(t *testing.T) {
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = parseTime("12345.678") }))
}
