package trace

// This file is the oracle of the equivalence tests and fuzzers: Read, the
// EndpointSlice and CSV readers, parseTime and checkName as they were
// before the readers streamed, copied verbatim with their identifiers
// renamed (old...). oldReadEndpointSlices
// reads the whole input, then re-merges the union of all slices on every
// update. It shares with the package the types it decodes JSON into,
// whose names show in encoding/json's messages, and the helpers errAt,
// checkName, checker, parseLine, checkHeader and isSpaceOrBOM. Do not
// change it but to follow their renames.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
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
const (
	oldServiceLabel      = "kubernetes.io/service-name"
	oldTriggerAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"
)

// oldSliceReader holds the state of one oldReadEndpointSlices call.
type oldSliceReader struct {
	opt  SliceOptions
	data []byte

	slices   map[string]map[string]oldEndpointState // by namespace/name, then endpoint ID
	current  map[string]oldEndpointState            // the union of slices, as last emitted
	services map[string]bool                        // every service seen, as namespace/name
	matched  map[string]bool                        // services that SliceOptions.Service matched
	objects  int                                    // complete top-level values read

	oldClock oldClock
	events   []Event
}

// oldEndpointState is what a slice says about one endpoint.
type oldEndpointState struct {
	ready bool
	zone  string
}

// slice decodes one EndpointSlice and records its service. It returns nil
// for a slice of another service than the chosen one. Items of a List may
// leave out the kind.
func (sr *oldSliceReader) slice(raw json.RawMessage, start int64, item bool) (*endpointSlice, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, sr.errAt(ErrSyntax, start, "JSON %s is not an EndpointSlice", oldJSONType(oldFirstByte(raw)))
	}
	s := new(endpointSlice)
	s.start = start
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, sr.errAt(ErrSyntax, start, "EndpointSlice: %v", err)
	}
	if s.Kind != "EndpointSlice" && !(item && s.Kind == "") {
		if s.Kind == "" {
			return nil, sr.errAt(ErrSyntax, start, "object without a kind (want EndpointSlice)")
		}
		return nil, sr.errAt(ErrSyntax, start, "found a %s, not an EndpointSlice", s.Kind)
	}
	if s.Metadata.Name == "" {
		return nil, sr.errAt(ErrSyntax, start, "EndpointSlice without metadata.name")
	}
	svc := s.Metadata.Labels[oldServiceLabel]
	id := svc
	if s.Metadata.Namespace != "" {
		id = s.Metadata.Namespace + "/" + svc
	}
	sr.services[id] = true
	if sr.opt.Service != "" && sr.opt.Service != id && (svc == "" || sr.opt.Service != svc) {
		return nil, nil
	}
	sr.matched[id] = true
	return s, nil
}

// How update applies its slices.
const (
	oldApplyOne   = iota // a new or changed slice
	oldDeleteOne         // a DELETED watch event
	oldReplaceAll        // a List: the slices in it are all there are
)

// update applies the slices of one update (one object, one watch event or
// one List), then emits the changes of the union as events.
func (sr *oldSliceReader) update(batch []*endpointSlice, how int) error {
	if how == oldReplaceAll {
		clear(sr.slices)
	}
	var at time.Time
	annotated := false
	for _, s := range batch {
		key := s.Metadata.Namespace + "/" + s.Metadata.Name
		if v, ok := s.Metadata.Annotations[oldTriggerAnnotation]; ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return sr.errAt(ErrSyntax, s.start, "EndpointSlice %s: %s %q is not an RFC 3339 time", s.Metadata.Name, oldTriggerAnnotation, v)
			}
			if !annotated || t.After(at) {
				at, annotated = t, true
			}
		}
		if how == oldDeleteOne {
			delete(sr.slices, key)
			continue
		}
		eps, err := sr.endpoints(s)
		if err != nil {
			return err
		}
		sr.slices[key] = eps
	}
	sr.emit(sr.oldClock.tick(at, annotated, sr.opt.Interval))
	return nil
}

// endpoints returns a slice's endpoints by ID.
func (sr *oldSliceReader) endpoints(s *endpointSlice) (map[string]oldEndpointState, error) {
	eps := make(map[string]oldEndpointState, len(s.Endpoints))
	if len(s.Endpoints) == 0 {
		return eps, nil
	}
	port, err := sr.port(s)
	if err != nil {
		return nil, err
	}
	for i, ep := range s.Endpoints {
		if len(ep.Addresses) == 0 || ep.Addresses[0] == "" {
			return nil, sr.errAt(ErrSyntax, s.start, "EndpointSlice %s: endpoint %d has no address", s.Metadata.Name, i)
		}
		id := ep.Addresses[0]
		if port != "" {
			id = net.JoinHostPort(strings.Trim(id, "[]"), port)
		}
		if msg := checkName("endpoint", id); msg != "" {
			return nil, sr.errAt(ErrSyntax, s.start, "EndpointSlice %s: %s", s.Metadata.Name, msg)
		}
		c := ep.Conditions
		st := oldEndpointState{
			// A nil ready condition means ready (the API's "unknown state",
			// which consumers should treat as ready).
			ready: (c.Ready == nil || *c.Ready) &&
				(c.Serving == nil || *c.Serving) &&
				(c.Terminating == nil || !*c.Terminating),
		}
		if ep.Zone != nil {
			st.zone = *ep.Zone
			if msg := checkName("zone", st.zone); msg != "" {
				return nil, sr.errAt(ErrSyntax, s.start, "EndpointSlice %s: %s", s.Metadata.Name, msg)
			}
		}
		if old, dup := eps[id]; dup && old.ready {
			continue
		}
		eps[id] = st
	}
	return eps, nil
}

// port returns the port that names the slice's endpoints, or "" if the
// slice has no ports.
func (sr *oldSliceReader) port(s *endpointSlice) (string, error) {
	if len(s.Ports) == 0 {
		return "", nil
	}
	var names []string
	for _, p := range s.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if sr.opt.Port == "" || sr.opt.Port == name {
			if p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
				return "", sr.errAt(ErrSyntax, s.start, "EndpointSlice %s: port %q has no valid number", s.Metadata.Name, name)
			}
			return strconv.Itoa(int(*p.Port)), nil
		}
		names = append(names, strconv.Quote(name))
	}
	return "", sr.errAt(ErrSyntax, s.start, "EndpointSlice %s has no port named %q (it has %s)",
		s.Metadata.Name, sr.opt.Port, strings.Join(names, ", "))
}

// emit diffs the union of all slices against the last state emitted and
// appends the changes at time at, in endpoint order.
func (sr *oldSliceReader) emit(at time.Duration) {
	next := map[string]oldEndpointState{}
	keys := make([]string, 0, len(sr.slices))
	for k := range sr.slices {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for id, st := range sr.slices[k] {
			old, ok := next[id]
			switch {
			case !ok, st.ready && !old.ready:
				next[id] = st
			case old.zone == "" && st.ready == old.ready:
				old.zone = st.zone
				next[id] = old
			}
		}
	}
	ids := make([]string, 0, len(next)+len(sr.current))
	for id := range next {
		ids = append(ids, id)
	}
	for id := range sr.current {
		if _, ok := next[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		old, was := sr.current[id]
		st, is := next[id]
		ev := Event{At: at, Endpoint: id, Zone: st.zone}
		switch {
		case !is:
			ev.Kind, ev.Zone = Remove, old.zone
			sr.events = append(sr.events, ev)
		case !was:
			ev.Kind = Add
			sr.events = append(sr.events, ev)
			if st.ready {
				ev.Kind = Ready
				sr.events = append(sr.events, ev)
			}
		case st.ready != old.ready:
			ev.Kind = Unready
			if st.ready {
				ev.Kind = Ready
			}
			sr.events = append(sr.events, ev)
		}
	}
	sr.current = next
}

// checkServices rejects a stream of several services when none was
// chosen, and a stream without the chosen one.
func (sr *oldSliceReader) checkServices() error {
	seen, matched := oldServiceNames(sr.services), oldServiceNames(sr.matched)
	switch {
	case sr.opt.Service != "" && len(matched) > 1:
		return fmt.Errorf("trace: service %q matches %d services (%s); name one as namespace/name: %w",
			sr.opt.Service, len(matched), strings.Join(matched, ", "), ErrService)
	case sr.opt.Service == "" && len(seen) > 1:
		return fmt.Errorf("trace: the stream holds EndpointSlices of %d services (%s); choose one with SliceOptions.Service: %w",
			len(seen), strings.Join(seen, ", "), ErrService)
	case sr.opt.Service != "" && len(matched) == 0 && len(seen) > 0:
		return fmt.Errorf("trace: no EndpointSlices of service %q in the stream (it holds %s): %w",
			sr.opt.Service, strings.Join(seen, ", "), ErrService)
	}
	return nil
}

// oldServiceNames lists the services of set, sorted, for messages.
func oldServiceNames(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for s := range set {
		if s == "" || strings.HasSuffix(s, "/") {
			s += "(no " + oldServiceLabel + " label)"
		}
		names = append(names, s)
	}
	slices.Sort(names)
	return names
}

// oldClock assigns trace times to updates: the last-change-trigger-time
// annotation relative to the first one seen, or Interval after the previous
// update without one, never going backwards.
type oldClock struct {
	started  bool
	at       time.Duration // the time of the last update
	anchored bool
	zero     time.Time // the wall time of trace time 0, set by the first annotation
}

// tick returns the time of the next update; wall is its annotation if
// annotated is true.
func (c *oldClock) tick(wall time.Time, annotated bool, interval time.Duration) time.Duration {
	next := time.Duration(0)
	if c.started {
		next = c.at + interval
		if next < c.at {
			next = c.at // overflow
		}
	}
	if annotated {
		if !c.anchored {
			c.zero, c.anchored = wall.Add(-next), true
		}
		next = wall.Sub(c.zero)
	}
	c.started = true
	c.at = max(c.at, next)
	return c.at
}

// oldReadCSV reads a trace in the CSV format described in the package
// documentation. It returns the events in file order, with the shorthand
// "ready of an unknown endpoint" expanded into an add and a ready at the
// same time, so the result always passes Validate.
//
// Errors name the line and wrap ErrSyntax (a malformed line) or ErrOrder
// (time going backwards, or an event illegal for the endpoint's state).
// On error oldReadCSV returns no events.
func oldReadCSV(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var (
		events   []Event
		c        checker
		line     int
		prevLine int  // line of the last event
		data     bool // a non-comment line has been seen
	)
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a byte order mark
		}
		text = strings.TrimSpace(text)
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Split(text, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		first := !data
		data = true
		if first && strings.EqualFold(fields[0], header[0]) {
			if err := checkHeader(fields, line); err != nil {
				return nil, err
			}
			continue
		}
		e, err := parseLine(fields, line)
		if err != nil {
			return nil, err
		}
		if len(events) > 0 && e.At < events[len(events)-1].At {
			return nil, lineErr(ErrOrder, line, "time %v is before %v at line %d",
				e.At, events[len(events)-1].At, prevLine)
		}
		if e.Kind == Ready && !c.known(e.Endpoint) {
			// The shorthand of recorded traces: ready implies add.
			add := e
			add.Kind = Add
			c.step(add)
			events = append(events, add)
		}
		if msg, kind := c.step(e); kind != nil {
			return nil, lineErr(kind, line, "%s", msg)
		}
		events = append(events, e)
		prevLine = line
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, lineErr(ErrSyntax, line+1, "line longer than %d bytes", maxLine)
		}
		return nil, fmt.Errorf("trace: line %d: %w", line+1, err)
	}
	return events, nil
}

// oldRead reads a trace in either format. It looks at the first byte that is
// not white space (or a UTF-8 byte order mark): '{' or '[' means an
// EndpointSlice stream, read by ReadEndpointSlices with opt; anything else
// means CSV, read by ReadCSV, which ignores opt.
func oldRead(r io.Reader, opt SliceOptions) ([]Event, error) {
	br := bufio.NewReader(r)
	var skipped []byte
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: read: %w", err)
		}
		skipped = append(skipped, b)
		if isSpaceOrBOM(b) {
			continue
		}
		if b == '{' || b == '[' {
			return oldReadEndpointSlices(io.MultiReader(bytes.NewReader(skipped), br), opt)
		}
		break
	}
	return oldReadCSV(io.MultiReader(bytes.NewReader(skipped), br))
}

// oldParseTime parses a Go duration ("1.5s") or plain decimal seconds
// ("12.25"), exactly: "0.1" is 100ms, not the nearest float64.
func oldParseTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty time")
	}
	text := s
	if isDecimal(s) {
		text = s + "s"
	}
	d, err := time.ParseDuration(text)
	switch {
	case err == nil:
	case isDecimal(s):
		return 0, fmt.Errorf("time %q is out of range", s)
	default:
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return 0, fmt.Errorf("time %q is not finite", s)
		}
		return 0, fmt.Errorf("invalid time %q (want a duration such as 1.5s or seconds such as 12.25)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative time %q", s)
	}
	return d, nil
}

// oldCheckName rejects the characters a CSV field cannot hold: commas,
// whitespace, control characters and invalid UTF-8.
func oldCheckName(what, s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool {
		return r == ',' || r == unicode.ReplacementChar || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return ""
	}
	return fmt.Sprintf("%s %q holds a comma, space, control character or invalid UTF-8", what, s)
}
