package trace

// The old ReadCSV, Read, parseTime and checkName: see
// oracle_stream_test.go.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

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
