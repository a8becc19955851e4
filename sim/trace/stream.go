package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReadEndpointSlices reads a stream of EndpointSlices as kubectl prints
// them and returns the changes of the service's endpoint set as a trace;
// see the package documentation for the rules. The stream is a sequence of
// JSON values, each an EndpointSlice, a watch event wrapping one, a List of
// them, or an array of any of these. ReadEndpointSlices collects the events
// of NewSliceReader(r, opt).
//
// Errors wrap ErrSyntax (malformed JSON, or an object that is not an
// EndpointSlice), ErrService or ErrTruncated; their messages give the line
// and byte offset. On ErrTruncated the events of the complete values before
// the cut are returned with the error; on any other error, none are.
func ReadEndpointSlices(r io.Reader, opt SliceOptions) ([]Event, error) {
	return collect(NewSliceReader(r, opt))
}

// newSliceFormat reads the stream r, whose first byte is at position at of
// the input.
func newSliceFormat(r io.Reader, opt SliceOptions, at position) *sliceReader {
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	return &sliceReader{
		opt:      opt,
		in:       newInput(r, at),
		end:      at.off,
		union:    newUnion(),
		services: map[string]bool{},
		matched:  map[string]bool{},
	}
}

// next reads JSON values until one changes the endpoint set.
func (sr *sliceReader) next(buf []Event) ([]Event, error) {
	sr.events = buf
	defer func() { sr.events = nil }()
	for n := len(buf); len(sr.events) == n; {
		if err := sr.read(); err != nil {
			return sr.events, err
		}
	}
	return sr.events, nil
}

// maxRetries bounds how often read parses a value again as more of it
// arrives, before it leaves it to the careful path, which reads it
// incrementally. A value is parsed again when it crosses the end of what
// has been read: once a buffer-full when reading a file, and as the buffer
// doubles to hold a large value (a List of a big service); more often when
// a pipe trickles it in. The parser is some eight times faster than
// encoding/json, so eight retries cost about what the careful path does.
const maxRetries = 8

// read reads the next top-level JSON value and applies it. It parses the
// value in place with the parser, and leaves to the careful path (careful)
// whatever the parser declines.
func (sr *sliceReader) read() error {
	in := sr.in
	in.drop(sr.end)
	start := in.skipSpace(sr.end)
	in.drop(start)
	if start == in.size() {
		if in.err != nil {
			return fmt.Errorf("trace: read: %w", in.err)
		}
		if err := sr.checkServices(true); err != nil {
			return err
		}
		return io.EOF
	}
	if in.from(start)[0] == '{' {
		for retry := 0; retry <= maxRetries; retry++ {
			n, ok := sr.p.parse(in.from(start))
			if ok {
				sr.end = start + int64(n)
				if sr.fast(&sr.p.v) {
					sr.objects++
					return nil
				}
				return sr.value(in.from(start)[:n], start, true)
			}
			if !sr.p.short || !in.more() {
				break
			}
		}
	}
	return sr.careful(start)
}

// careful decodes the value that starts at offset start with encoding/json
// and applies it with value, as ReadEndpointSlices did before it streamed:
// this is the path of all the errors it reports.
func (sr *sliceReader) careful(start int64) error {
	dec := json.NewDecoder(&cursor{in: sr.in, off: start})
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return sr.decodeError(err, start)
	}
	sr.end = start + dec.InputOffset()
	return sr.value(raw, start, true)
}

// The envelopes of the JSON values in a stream.
type (
	envelope struct {
		Kind   string            `json:"kind"`
		Type   string            `json:"type"`
		Object json.RawMessage   `json:"object"`
		Items  []json.RawMessage `json:"items"`
	}
	status struct {
		Message string `json:"message"`
	}
)

// value handles one JSON value at byte offset start. Arrays are only
// unpacked at the top level.
func (sr *sliceReader) value(raw json.RawMessage, start int64, top bool) error {
	switch raw[0] {
	case '[':
		if !top {
			return sr.errAt(ErrSyntax, start, "nested JSON array (want EndpointSlices)")
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return sr.errAt(ErrSyntax, start, "%v", err)
		}
		var off int64
		for _, item := range items {
			off = locate(raw, item, off)
			if err := sr.value(item, start+off, false); err != nil {
				return err
			}
			off += int64(len(item))
		}
		sr.objects++
		return nil
	case '{':
	default:
		return sr.errAt(ErrSyntax, start, "JSON %s is not an object (want EndpointSlices)", jsonType(raw[0]))
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return sr.errAt(ErrSyntax, start, "%v", err)
	}
	var err error
	switch {
	case env.Type != "" && env.Object != nil:
		err = sr.watchEvent(env, raw, start)
	case strings.HasSuffix(env.Kind, "List"):
		err = sr.list(env, raw, start)
	default:
		var s *endpointSlice
		if s, err = sr.slice(raw, start, false); err == nil && s != nil {
			err = sr.update([]*endpointSlice{s}, applyOne)
		}
	}
	if err == nil && top {
		sr.objects++
	}
	return err
}

// watchEvent handles {"type": "ADDED", "object": {...}}.
func (sr *sliceReader) watchEvent(env envelope, raw json.RawMessage, start int64) error {
	switch env.Type {
	case "ADDED", "MODIFIED", "DELETED":
	case "BOOKMARK":
		return nil
	case "ERROR":
		var st status
		_ = json.Unmarshal(env.Object, &st)
		return sr.errAt(ErrSyntax, start, "watch error: %q", st.Message)
	default:
		return sr.errAt(ErrSyntax, start, "unknown watch event type %q", env.Type)
	}
	s, err := sr.slice(env.Object, start+locate(raw, env.Object, 0), false)
	if err != nil || s == nil {
		return err
	}
	how := applyOne
	if env.Type == "DELETED" {
		how = deleteOne
	}
	return sr.update([]*endpointSlice{s}, how)
}

// list handles a List of EndpointSlices as one update. A List is a
// snapshot: it replaces every slice known before.
func (sr *sliceReader) list(env envelope, raw json.RawMessage, start int64) error {
	if env.Kind != "List" && env.Kind != "EndpointSliceList" {
		return sr.errAt(ErrSyntax, start, "found a %s, not EndpointSlices", env.Kind)
	}
	var batch []*endpointSlice
	var off int64
	for _, item := range env.Items {
		off = locate(raw, item, off)
		s, err := sr.slice(item, start+off, true)
		if err != nil {
			return err
		}
		off += int64(len(item))
		if s != nil {
			batch = append(batch, s)
		}
	}
	if len(batch) == 0 && len(sr.union.slices) == 0 {
		return nil // nothing was known and nothing is: not an update
	}
	return sr.update(batch, replaceAll)
}

// decodeError explains an error of the decoder that read the value that
// starts at offset start.
func (sr *sliceReader) decodeError(err error, start int64) error {
	if sr.in.err != nil && errors.Is(err, sr.in.err) {
		return fmt.Errorf("trace: read: %w", err)
	}
	var syn *json.SyntaxError
	off := sr.in.size()
	if errors.As(err, &syn) {
		off = start + syn.Offset - 1 // the offending byte
	}
	read := fmt.Sprintf("after %d complete JSON values and %d events", sr.objects, sr.emitted)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("trace: %s: the input ends inside the JSON value that starts at %s, %s: %w",
			sr.in.where(off), sr.in.where(start), read, ErrTruncated)
	}
	return errAt(ErrSyntax, sr.in.where(off), "%v (in the JSON value that starts at %s, %s)", err, sr.in.where(start), read)
}

// errAt returns an error at byte offset off of the input.
func (sr *sliceReader) errAt(kind error, off int64, format string, args ...any) error {
	return errAt(kind, sr.in.where(off), format, args...)
}

// locate returns where sub, a value json.Unmarshal copied out of raw
// verbatim, starts in raw at or after from; from if it is not found. The
// offset serves error messages only.
func locate(raw, sub []byte, from int64) int64 {
	if from < 0 || from > int64(len(raw)) {
		return 0
	}
	if i := bytes.Index(raw[from:], sub); i >= 0 {
		return from + int64(i)
	}
	return from
}

// firstByte returns b[0], or 0 if b is empty.
func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// jsonType names the kind of JSON value that starts with byte b.
func jsonType(b byte) string {
	switch b {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
