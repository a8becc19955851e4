package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireSticky checks that r keeps returning err.
func requireSticky(t *testing.T, r *Reader, err error) {
	t.Helper()
	for range 3 {
		_, again := r.Next()
		require.Equal(t, err, again)
	}
}

func TestReaderEventsBeforeError(t *testing.T) {
	const in = "0,ready,a\n1,add,b\n2,raedy,a\n3,remove,a\n"
	r := NewCSVReader(strings.NewReader(in))
	events, err := readAll(r)
	assert.Equal(t, []Event{{Kind: Add, Endpoint: "a"}, {Kind: Ready, Endpoint: "a"}, {At: time.Second, Kind: Add, Endpoint: "b"}}, events)
	require.EqualError(t, err, `trace: line 3: unknown event "raedy" (want add, ready, unready or remove)`)
	requireSticky(t, r, err)

	// ReadCSV returns no events with the error.
	events, err2 := ReadCSV(strings.NewReader(in))
	assert.Nil(t, events)
	assert.Equal(t, err, err2)

	r = NewCSVReader(strings.NewReader("0,add,a\n"))
	_, err = readAll(r)
	require.NoError(t, err)
	requireSticky(t, r, io.EOF)
}

func TestReaderSliceErrors(t *testing.T) {
	web := func(name, addr string) string {
		return slice(name, "web", "", `{"addresses":["`+addr+`"]}`)
	}
	a, b := "10.0.0.1:80", "10.0.0.2:80"
	n := len(web("s", "10.0.0.1")) // as long as any of them
	tests := []struct {
		name string
		in   string
		opt  SliceOptions
		want []Event // before the error
		kind error
		msg  string
	}{
		{"second service", web("s", "10.0.0.1") + slice("o", "api", "", "") + web("t", "10.0.0.2"), SliceOptions{}, []Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}, ErrService,
			"trace: the stream holds EndpointSlices of 2 services (default/api, default/web); choose one with SliceOptions.Service: trace: service selection"},
		{"second service in a list", web("s", "10.0.0.1") + `{"kind":"List","items":[` + web("s", "10.0.0.2") + "," + slice("o", "api", "", "") + `]}`, SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}, ErrService, "trace: the stream holds EndpointSlices of 2 services"},
		{"service in a second namespace", web("s", "10.0.0.1") + strings.Replace(web("t", "10.0.0.2"), `"default"`, `"prod"`, 1), SliceOptions{Service: "web"},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}, ErrService, `trace: service "web" matches 2 services (default/web, prod/web)`},
		{"service absent", web("s", "10.0.0.1"), SliceOptions{Service: "api"}, nil, ErrService,
			`trace: no EndpointSlices of service "api" in the stream (it holds default/web)`},
		{"truncated", web("s", "10.0.0.1") + "\n" + web("t", "10.0.0.2") + web("u", "10.0.0.3")[:40], SliceOptions{},
			[]Event{ev(0, Add, a, ""), ev(0, Ready, a, ""), ev(time.Second, Add, b, ""), ev(time.Second, Ready, b, "")}, ErrTruncated,
			fmt.Sprintf("trace: line 2 (byte %d): the input ends inside the JSON value that starts at line 2 (byte %d), after 2 complete JSON values and 4 events", 2*n+41, 2*n+1)},
		{"syntax", web("s", "10.0.0.1") + "\n{,}", SliceOptions{}, []Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}, ErrSyntax,
			fmt.Sprintf("trace: line 2 (byte %d): invalid character ',' looking for beginning of object key string (in the JSON value that starts at line 2 (byte %d), after 1 complete JSON values and 2 events)", n+2, n+1)},
		{"not a slice", web("s", "10.0.0.1") + "\n[7]", SliceOptions{}, []Event{ev(0, Add, a, ""), ev(0, Ready, a, "")}, ErrSyntax,
			fmt.Sprintf("trace: line 2 (byte %d): JSON number is not an object", n+2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []*Reader{
				NewSliceReader(strings.NewReader(tt.in), tt.opt),
				NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), tt.opt),
			} {
				events, err := readAll(r)
				assert.Equal(t, tt.want, events, "the events before the error")
				require.ErrorIs(t, err, tt.kind)
				assert.True(t, strings.HasPrefix(err.Error(), tt.msg), "error\n%q\ndoes not start with\n%q", err, tt.msg)
				requireSticky(t, r, err)
			}
		})
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	data, err := os.ReadFile("testdata/rolling-update-watch.json")
	require.NoError(t, err)
	in := string(data[:nthValueEnd(data, 2)+100])
	for name, r := range map[string]*Reader{
		"slices": NewSliceReader(&failingReader{data: in, err: boom}, SliceOptions{}),
		"sniff":  NewReader(&failingReader{data: in, err: boom}, SliceOptions{}),
	} {
		events, err := readAll(r)
		assert.Equal(t, rollingUpdate("8080")[:6], events, name)
		require.ErrorIs(t, err, boom, name)
		assert.Equal(t, "trace: read: boom", err.Error(), name)
		requireSticky(t, r, err)
	}
	_, err = readAll(NewReader(&failingReader{data: "   ", err: boom}, SliceOptions{}))
	assert.Equal(t, "trace: read: boom", err.Error())
}

// Sniffing a long blank prefix keeps neither it all nor the formats from
// naming lines and bytes right after it.
func TestReaderLongBlankPrefix(t *testing.T) {
	blank := strings.Repeat(" \t\r\n", 50_000) + strings.Repeat("\n", 70_000)
	r := NewReader(strings.NewReader(blank+"0,add,a\n"), SliceOptions{})
	f, err := r.sniff()
	require.NoError(t, err)
	assert.Greater(t, f.(*csvFormat).line, 50_000, "blank lines dropped while sniffing")
	r = NewReader(strings.NewReader(blank+"{}"), SliceOptions{})
	f, err = r.sniff()
	require.NoError(t, err)
	assert.Greater(t, f.(*sliceReader).in.lines, 50_000, "blank lines dropped while sniffing")

	web := slice("s", "web", "", `{"addresses":["10.0.0.1"]}`)
	for _, in := range []string{
		"",
		"0,add,a\n1,raedy,a\n",
		"\xef\n0,add,a\n",
		web + "\n{\"kind\" 5}",
		web[:100],
		"   \xbb" + web,
	} {
		for _, prefix := range []string{blank, "\uFEFF" + blank, "\uFEFF0,add,a\n", blank + "\uFEFF", blank + strings.Repeat(" ", 100_000)} {
			in := prefix + in
			want, wantErr := oldRead(strings.NewReader(in), SliceOptions{})
			got, err := Read(strings.NewReader(in), SliceOptions{})
			requireSameResult(t, want, wantErr, got, err)
			got, err = Read(iotest.HalfReader(strings.NewReader(in)), SliceOptions{})
			requireSameResult(t, want, wantErr, got, err)
		}
	}
}

func TestBlankLines(t *testing.T) {
	for in, want := range map[string]int{
		"":                 0,
		" \t\r":            0,
		" \n\t\n  ":        4,
		"\n\xef\n":         1,
		"\uFEFF \n \n":     7,
		" \uFEFF\n":        0,
		"\uFEFFx\n":        0,
		"\r\n\r\n\uFEFF\n": 4,
	} {
		assert.Equal(t, want, blankLines([]byte(in), true), "%q", in)
	}
	assert.Equal(t, 0, blankLines([]byte("\uFEFF\n"), false))
}

func TestReaderBOM(t *testing.T) {
	data, err := os.ReadFile("testdata/rolling-update.json")
	require.NoError(t, err)
	want, err := ReadEndpointSlices(bytes.NewReader(data), SliceOptions{})
	require.NoError(t, err)
	in := append([]byte("\uFEFF"), data...)
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(in),
		"one byte": iotest.OneByteReader(bytes.NewReader(in)),
	} {
		got, err := readAll(NewSliceReader(r, SliceOptions{}))
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	_, err = ReadEndpointSlices(strings.NewReader("\uFEFF{,"), SliceOptions{})
	assert.EqualError(t, err, "trace: line 1 (byte 4): invalid character ',' looking for beginning of object key string "+
		"(in the JSON value that starts at line 1 (byte 3), after 0 complete JSON values and 0 events)")
}
