package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Reader reads a trace one event at a time, from a CSV file or from an
// EndpointSlice stream. Its memory grows with the number of live endpoints,
// slices and services and with the largest JSON value in the stream, never
// with the number of lines or updates, so it reads recordings of any
// length.
//
// The events a Reader returns pass Validate; Read, ReadCSV and
// ReadEndpointSlices collect them. On an error, the events before it have
// already been returned, where those functions return none (but
// ReadEndpointSlices returns those before an ErrTruncated). The services of
// an EndpointSlice stream are checked as they appear: a stream of several
// services while SliceOptions.Service is empty fails when the second one
// appears, and a stream without the chosen service fails at its end. See
// the package documentation.
//
// A Reader is not safe for concurrent use by multiple goroutines.
type Reader struct {
	src io.Reader // the input, until its format is known
	opt SliceOptions

	form format  // nil until the first call of Next sniffs the format
	buf  []Event // buf[head:] are read and not yet returned
	head int
	err  error // returned once buf is drained, and ever after
}

// format reads one input format.
type format interface {
	// next appends the events of the next records (CSV lines, JSON
	// values) to buf: at least one event, unless it returns an error.
	// At the end of the input the error is io.EOF.
	next(buf []Event) ([]Event, error)
}

// NewReader returns a Reader of r in either format. Like Read, it looks at
// the first byte that is not white space (or a UTF-8 byte order mark): '{'
// or '[' means an EndpointSlice stream, read with opt; anything else means
// CSV, and opt is ignored. It reads nothing until the first call of Next.
func NewReader(r io.Reader, opt SliceOptions) *Reader {
	return &Reader{src: r, opt: opt}
}

// NewCSVReader returns a Reader of a trace in the CSV format.
func NewCSVReader(r io.Reader) *Reader {
	return &Reader{form: newCSVFormat(r, position{})}
}

// NewSliceReader returns a Reader of an EndpointSlice stream, read with
// opt.
func NewSliceReader(r io.Reader, opt SliceOptions) *Reader {
	return &Reader{form: newSliceFormat(r, opt, position{})}
}

// Next returns the next event, or io.EOF after the last one. After any
// other error, Next keeps returning it. Errors are those of Read: they wrap
// ErrSyntax, ErrOrder, ErrTruncated or ErrService, or the error of the
// underlying io.Reader, and name the line where the input went wrong.
func (r *Reader) Next() (Event, error) {
	for r.head == len(r.buf) {
		if r.err != nil {
			return Event{}, r.err
		}
		if r.form == nil {
			r.form, r.err = r.sniff()
			continue
		}
		r.buf, r.head = r.buf[:0], 0
		r.buf, r.err = r.form.next(r.buf)
	}
	e := r.buf[r.head]
	r.head++
	return e, nil
}

// Read reads a trace in either format: it collects the events of
// NewReader(r, opt). An EndpointSlice stream is read as ReadEndpointSlices
// reads it, CSV as ReadCSV does.
func Read(r io.Reader, opt SliceOptions) ([]Event, error) {
	return collect(NewReader(r, opt))
}

// collect returns the events of r up to io.EOF. On an error it returns
// none, except on ErrTruncated, which comes with the events before it.
func collect(r *Reader) ([]Event, error) {
	events, err := readAll(r)
	if err != nil && !errors.Is(err, ErrTruncated) {
		events = nil
	}
	return events, err
}

// readAll returns the events of r and its error, which is nil at io.EOF.
// Unlike collect it keeps the events before any error.
func readAll(r *Reader) ([]Event, error) {
	var events []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, e)
	}
}

// position is a place in the input: a byte offset and the number of
// newlines before it.
type position struct {
	off   int64
	lines int
}

// sniffChunk is how many blank bytes sniff holds before it drops the
// complete blank lines among them.
const sniffChunk = 64 << 10

// sniff reads up to the first byte that is not white space or part of a
// byte order mark, and returns the format that byte starts. The format
// reads the input from its start: sniff replays the bytes it read, except
// for complete blank lines of a long blank prefix, which it drops (both
// formats skip them) and passes on as a starting position.
func (r *Reader) sniff() (format, error) {
	br := bufio.NewReader(r.src)
	r.src = nil
	var (
		skipped []byte   // the blank bytes read since origin
		origin  position // where skipped starts
	)
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trace: read: %w", err)
		}
		skipped = append(skipped, b)
		if b == '{' || b == '[' {
			return newSliceFormat(io.MultiReader(bytes.NewReader(skipped), br), r.opt, origin), nil
		}
		if !isSpaceOrBOM(b) {
			break
		}
		if len(skipped) == cap(skipped) && len(skipped) >= sniffChunk {
			n := blankLines(skipped, origin.off == 0)
			origin.lines += bytes.Count(skipped[:n], []byte{'\n'})
			origin.off += int64(n)
			skipped = append(skipped[:0], skipped[n:]...)
		}
	}
	return newCSVFormat(io.MultiReader(bytes.NewReader(skipped), br), origin), nil
}

// blankLines returns the length of the complete lines that b starts with
// and that hold only spaces, tabs and carriage returns, after a byte order
// mark if bom is true and b starts with one.
func blankLines(b []byte, bom bool) int {
	start := 0
	if bom && bytes.HasPrefix(b, []byte("\uFEFF")) {
		start = 3
	}
	n := 0
	for i := start; i < len(b); i++ {
		switch b[i] {
		case '\n':
			n = i + 1
		case ' ', '\t', '\r':
		default:
			return n
		}
	}
	return n
}

// isSpaceOrBOM reports white space and the bytes of a UTF-8 byte order
// mark (EF BB BF), none of which can start either format.
func isSpaceOrBOM(b byte) bool {
	switch b {
	case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF:
		return true
	}
	return false
}
