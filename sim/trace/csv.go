package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// header is the optional first line of a CSV trace, and the names of its
// columns.
var header = []string{"time", "event", "endpoint", "weight", "zone"}

// maxLine bounds a CSV line, so that garbage input fails instead of growing
// a buffer without end.
const maxLine = 64 << 10

// ReadCSV reads a trace in the CSV format described in the package
// documentation: it collects the events of NewCSVReader(r). It returns the
// events in file order, with the shorthand "ready of an unknown endpoint"
// expanded into an add and a ready at the same time, so the result always
// passes Validate.
//
// Errors name the line and wrap ErrSyntax (a malformed line) or ErrOrder
// (time going backwards, or an event illegal for the endpoint's state).
// On error ReadCSV returns no events.
func ReadCSV(r io.Reader) ([]Event, error) {
	return collect(NewCSVReader(r))
}

// csvFormat reads the CSV format a line at a time. It holds the phase of
// each endpoint that has been added and not removed.
type csvFormat struct {
	sc       *bufio.Scanner
	c        checker
	line     int           // lines read
	prevLine int           // line of the last event
	last     time.Duration // time of the last event
	events   bool          // an event has been read
	data     bool          // a non-comment line has been read
	fields   []string      // scratch for the fields of a line
}

// splitFields appends the comma-separated fields of line to dst, with
// the spaces around them trimmed.
func splitFields(dst []string, line string) []string {
	for {
		i := strings.IndexByte(line, ',')
		if i < 0 {
			return append(dst, strings.TrimSpace(line))
		}
		dst = append(dst, strings.TrimSpace(line[:i]))
		line = line[i+1:]
	}
}

// newCSVFormat reads r, whose first byte is at position at of the input.
func newCSVFormat(r io.Reader, at position) *csvFormat {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	return &csvFormat{sc: sc, line: at.lines}
}

func (f *csvFormat) next(buf []Event) ([]Event, error) {
	for f.sc.Scan() {
		f.line++
		text := strings.TrimSuffix(f.sc.Text(), "\r")
		if f.line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a byte order mark
		}
		text = strings.TrimSpace(text)
		if text == "" || text[0] == '#' {
			continue
		}
		fields := splitFields(f.fields[:0], text)
		f.fields = fields
		first := !f.data
		f.data = true
		if first && strings.EqualFold(fields[0], header[0]) {
			if err := checkHeader(fields, f.line); err != nil {
				return buf, err
			}
			continue
		}
		e, err := parseLine(fields, f.line)
		if err != nil {
			return buf, err
		}
		if f.events && e.At < f.last {
			return buf, lineErr(ErrOrder, f.line, "time %v is before %v at line %d", e.At, f.last, f.prevLine)
		}
		// parseLine checked the fields.
		if e.Kind == Ready && !f.c.known(e.Endpoint) {
			// The shorthand of recorded traces: ready implies add.
			add := e
			add.Kind = Add
			f.c.advance(add)
			buf = append(buf, add)
		}
		if msg, kind := f.c.advance(e); kind != nil {
			return buf, lineErr(kind, f.line, "%s", msg)
		}
		f.events, f.last, f.prevLine = true, e.At, f.line
		return append(buf, e), nil
	}
	if err := f.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return buf, lineErr(ErrSyntax, f.line+1, "line longer than %d bytes", maxLine)
		}
		return buf, fmt.Errorf("trace: line %d: %w", f.line+1, err)
	}
	return buf, io.EOF
}

// checkHeader accepts a header that names the first three or more columns
// in order.
func checkHeader(fields []string, line int) error {
	ok := len(fields) >= 3 && len(fields) <= len(header)
	for i := 0; ok && i < len(fields); i++ {
		ok = strings.EqualFold(fields[i], header[i])
	}
	if !ok {
		return lineErr(ErrSyntax, line, "malformed header %q (want %s)",
			strings.Join(fields, ","), strings.Join(header, ","))
	}
	return nil
}

// parseLine parses the fields of one event line.
func parseLine(fields []string, line int) (Event, error) {
	if len(fields) > len(header) {
		return Event{}, lineErr(ErrSyntax, line, "%d columns (want time,event,endpoint[,weight][,zone])", len(fields))
	}
	// Fields are checked in order, so that a line cut short fails on the
	// field it was cut in.
	var e Event
	var err error
	if e.At, err = parseTime(fields[0]); err != nil {
		return Event{}, lineErr(ErrSyntax, line, "%v", err)
	}
	if len(fields) < 2 {
		return Event{}, lineErr(ErrSyntax, line, "missing event (want time,event,endpoint[,weight][,zone])")
	}
	var ok bool
	if e.Kind, ok = parseKind(fields[1]); !ok {
		return Event{}, lineErr(ErrSyntax, line, "unknown event %q (want add, ready, unready or remove)", fields[1])
	}
	if len(fields) < 3 {
		return Event{}, lineErr(ErrSyntax, line, "missing endpoint (want time,event,endpoint[,weight][,zone])")
	}
	e.Endpoint = fields[2]
	if e.Endpoint == "" {
		return Event{}, lineErr(ErrSyntax, line, "empty endpoint")
	}
	if msg := checkName("endpoint", e.Endpoint); msg != "" {
		return Event{}, lineErr(ErrSyntax, line, "%s", msg)
	}
	if len(fields) > 3 && fields[3] != "" {
		w, err := strconv.ParseUint(fields[3], 10, 32)
		if err != nil {
			return Event{}, lineErr(ErrSyntax, line, "weight %q is not an integer from 0 to %d", fields[3], uint32(math.MaxUint32))
		}
		e.Weight = uint32(w)
	}
	if len(fields) > 4 {
		e.Zone = fields[4]
		if msg := checkName("zone", e.Zone); msg != "" {
			return Event{}, lineErr(ErrSyntax, line, "%s", msg)
		}
	}
	return e, nil
}

// parseTime parses a Go duration ("1.5s") or plain decimal seconds
// ("12.25"), exactly: "0.1" is 100ms, not the nearest float64.
func parseTime(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty time")
	}
	if d, ok := parseSeconds(s); ok {
		return d, nil
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

// parseSeconds parses the decimal seconds of most traces, up to 9 digits
// before the point and 9 after and not negative, without allocating, as
// time.ParseDuration parses them with an "s" after (its arithmetic is exact
// in that range). It reports false for any other string.
func parseSeconds(s string) (time.Duration, bool) {
	s = strings.TrimPrefix(s, "+")
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole) > 9 || len(frac) > 9 || whole == "" && frac == "" {
		return 0, false
	}
	var d time.Duration
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
			d = d*10 + time.Duration(part[i]-'0')
		}
	}
	for range 9 - len(frac) {
		d *= 10
	}
	return d, true
}

// isDecimal reports whether s is a plain decimal number: an optional sign,
// digits and at most one point, with at least one digit.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits, points := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
			digits++
		case s[i] == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1
}

// WriteCSV writes events in the CSV format ReadCSV reads, header first,
// times in decimal seconds. It checks events with Validate first and writes
// nothing if they fail, so whatever it writes reads back as the same events.
func WriteCSV(w io.Writer, events []Event) error {
	if err := Validate(events); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(strings.Join(header, ",") + "\n")
	var buf []byte
	for _, e := range events {
		buf = appendSeconds(buf[:0], e.At)
		buf = append(buf, ',')
		buf = append(buf, e.Kind.String()...)
		buf = append(buf, ',')
		buf = append(buf, e.Endpoint...)
		if e.Weight != 0 || e.Zone != "" {
			buf = append(buf, ',')
			if e.Weight != 0 {
				buf = strconv.AppendUint(buf, uint64(e.Weight), 10)
			}
		}
		if e.Zone != "" {
			buf = append(buf, ',')
			buf = append(buf, e.Zone...)
		}
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("trace: write: %w", err)
	}
	return nil
}

// appendSeconds appends d (not negative) as decimal seconds with no
// trailing zeros: 1.5s is "1.5", 2m is "120", 250ms is "0.25".
func appendSeconds(b []byte, d time.Duration) []byte {
	b = strconv.AppendInt(b, int64(d/time.Second), 10)
	frac := int64(d % time.Second)
	if frac == 0 {
		return b
	}
	s := strconv.FormatInt(frac+int64(time.Second), 10)[1:] // nine digits
	return append(append(b, '.'), strings.TrimRight(s, "0")...)
}
