package trace

// This file and oracle_slices_test.go and oracle_csv_test.go are the
// oracle of the equivalence tests and fuzzers: Read, the EndpointSlice and
// CSV readers, parseTime and checkName as they were before the readers
// streamed, copied verbatim with their identifiers renamed (old...).
// oldReadEndpointSlices reads the whole input, then merges the union of
// all slices again on every update.
//
// The oracle shares with the package the types it decodes JSON into, whose
// names show in encoding/json's messages, and the helpers errAt, checker,
// parseLine, checkHeader and isSpaceOrBOM (and through them checkName and
// parseTime, which FuzzCheckName and FuzzParseTime hold to their old
// copies). Do not change it but to follow their renames.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// oldReadEndpointSlices reads a stream of EndpointSlices as kubectl prints
// them and returns the changes of the service's endpoint set as a trace;
// see the package documentation for the rules. The stream is a sequence of
// JSON values, each an EndpointSlice, a watch event wrapping one, a List of
// them, or an array of any of these.
//
// Errors wrap ErrSyntax (malformed JSON, or an object that is not an
// EndpointSlice), ErrService or ErrTruncated; their messages give the line
// and byte offset. On ErrTruncated the events of the complete values before
// the cut are returned with the error; on any other error, none are.
func oldReadEndpointSlices(r io.Reader, opt SliceOptions) ([]Event, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("trace: read: %w", err)
	}
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		copy(data, "   ") // a byte order mark; blanking it keeps the offsets
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	sr := &oldSliceReader{
		opt:      opt,
		data:     data,
		slices:   map[string]map[string]oldEndpointState{},
		services: map[string]bool{},
		matched:  map[string]bool{},
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		start := oldSkipSpace(data, dec.InputOffset())
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			break
		}
		if err != nil {
			return sr.decodeError(err, start)
		}
		if err := sr.value(raw, start, true); err != nil {
			return nil, err
		}
	}
	if err := sr.checkServices(); err != nil {
		return nil, err
	}
	return sr.events, nil
}

// value handles one JSON value at byte offset start. Arrays are only
// unpacked at the top level.
func (sr *oldSliceReader) value(raw json.RawMessage, start int64, top bool) error {
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
			off = oldLocate(raw, item, off)
			if err := sr.value(item, start+off, false); err != nil {
				return err
			}
			off += int64(len(item))
		}
		sr.objects++
		return nil
	case '{':
	default:
		return sr.errAt(ErrSyntax, start, "JSON %s is not an object (want EndpointSlices)", oldJSONType(raw[0]))
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
			err = sr.update([]*endpointSlice{s}, oldApplyOne)
		}
	}
	if err == nil && top {
		sr.objects++
	}
	return err
}

// watchEvent handles {"type": "ADDED", "object": {...}}.
func (sr *oldSliceReader) watchEvent(env envelope, raw json.RawMessage, start int64) error {
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
	s, err := sr.slice(env.Object, start+oldLocate(raw, env.Object, 0), false)
	if err != nil || s == nil {
		return err
	}
	how := oldApplyOne
	if env.Type == "DELETED" {
		how = oldDeleteOne
	}
	return sr.update([]*endpointSlice{s}, how)
}

// list handles a List of EndpointSlices as one update. A List is a
// snapshot: it replaces every slice known before.
func (sr *oldSliceReader) list(env envelope, raw json.RawMessage, start int64) error {
	if env.Kind != "List" && env.Kind != "EndpointSliceList" {
		return sr.errAt(ErrSyntax, start, "found a %s, not EndpointSlices", env.Kind)
	}
	var batch []*endpointSlice
	var off int64
	for _, item := range env.Items {
		off = oldLocate(raw, item, off)
		s, err := sr.slice(item, start+off, true)
		if err != nil {
			return err
		}
		off += int64(len(item))
		if s != nil {
			batch = append(batch, s)
		}
	}
	if len(batch) == 0 && len(sr.slices) == 0 {
		return nil // nothing was known and nothing is: not an update
	}
	return sr.update(batch, oldReplaceAll)
}

// decodeError explains a JSON error of the value starting at start.
func (sr *oldSliceReader) decodeError(err error, start int64) ([]Event, error) {
	var syn *json.SyntaxError
	off := int64(len(sr.data))
	if errors.As(err, &syn) {
		off = syn.Offset - 1 // the offending byte
	}
	read := fmt.Sprintf("after %d complete JSON values and %d events", sr.objects, len(sr.events))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		events := sr.events
		if sr.checkServices() != nil {
			events = nil
		}
		return events, fmt.Errorf("trace: %s: the input ends inside the JSON value that starts at %s, %s: %w",
			sr.where(off), sr.where(start), read, ErrTruncated)
	}
	return nil, errAt(ErrSyntax, sr.where(off), "%v (in the JSON value that starts at %s, %s)", err, sr.where(start), read)
}

// errAt returns an error at byte offset off of the input.
func (sr *oldSliceReader) errAt(kind error, off int64, format string, args ...any) error {
	return errAt(kind, sr.where(off), format, args...)
}

// where names byte offset off as "line L (byte B)", lines counted from 1.
func (sr *oldSliceReader) where(off int64) string {
	off = min(max(off, 0), int64(len(sr.data)))
	line := 1 + bytes.Count(sr.data[:off], []byte{'\n'})
	return fmt.Sprintf("line %d (byte %d)", line, off)
}

// oldSkipSpace returns the offset of the first byte at or after off that is
// not JSON white space.
func oldSkipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n':
			off++
		default:
			return off
		}
	}
	return off
}

// oldLocate returns where sub, a value json.Unmarshal copied out of raw
// verbatim, starts in raw at or after from; from if it is not found. The
// offset serves error messages only.
func oldLocate(raw, sub []byte, from int64) int64 {
	if from < 0 || from > int64(len(raw)) {
		return 0
	}
	if i := bytes.Index(raw[from:], sub); i >= 0 {
		return from + int64(i)
	}
	return from
}

// oldFirstByte returns b[0], or 0 if b is empty.
func oldFirstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// oldJSONType names the kind of JSON value that starts with byte b.
func oldJSONType(b byte) string {
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

// The label and annotation that EndpointSlices carry (discovery.k8s.io/v1).
