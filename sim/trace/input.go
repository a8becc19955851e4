package trace

import (
	"bytes"
	"fmt"
	"io"
)

// input buffers an EndpointSlice stream. It keeps the bytes from the start
// of the value being read on (more, up to the last call of drop), so that
// the parser can parse the value in place, the careful path can decode it
// again, and errors can name the line of an offset in it. What it keeps is
// bounded by the largest JSON value and the read-ahead.
//
// Offsets count bytes from the start of the input, including those that
// sniffing dropped.
type input struct {
	r   io.Reader
	bom bool  // the start of the stream may be a byte order mark
	eof bool  // r reported io.EOF
	err error // the error of r other than io.EOF, if any

	buf   []byte // the bytes from offset base on
	base  int64
	lines int // newlines before base
}

// minRead is the least room input leaves in its buffer to read into.
const minRead = 32 << 10

func newInput(r io.Reader, at position) *input {
	return &input{r: r, bom: at.off == 0, base: at.off, lines: at.lines}
}

// more reads more of the stream, making room if the buffer is full, and
// reports whether it read anything. It makes one call of Read that returns
// bytes, so that a live stream is read as it comes. A byte order mark at
// the start of the stream reads as three spaces, which keeps the offsets.
func (in *input) more() bool {
	if cap(in.buf)-len(in.buf) < minRead {
		buf := make([]byte, len(in.buf), max(2*cap(in.buf), len(in.buf)+minRead))
		copy(buf, in.buf)
		in.buf = buf
	}
	n := len(in.buf)
	for !in.eof && in.err == nil && (len(in.buf) == n || in.bom && in.size() < 3) {
		k, err := in.r.Read(in.buf[len(in.buf):cap(in.buf)])
		in.buf = in.buf[:len(in.buf)+k]
		if err == io.EOF {
			in.eof = true
		} else if err != nil {
			in.err = err
		}
	}
	if in.bom && (in.size() >= 3 || in.eof || in.err != nil) {
		in.bom = false
		if bytes.HasPrefix(in.buf, []byte("\uFEFF")) {
			copy(in.buf, "   ")
		}
	}
	return len(in.buf) > n
}

// readErr returns the error that stopped more: io.EOF or the error of r.
func (in *input) readErr() error {
	if in.err != nil {
		return in.err
	}
	return io.EOF
}

// drop forgets the bytes before offset off.
func (in *input) drop(off int64) {
	k := int(off - in.base)
	if k <= 0 {
		return
	}
	in.lines += bytes.Count(in.buf[:k], []byte{'\n'})
	in.buf = in.buf[:copy(in.buf, in.buf[k:])]
	in.base = off
}

// from returns the bytes kept from offset off on.
func (in *input) from(off int64) []byte {
	return in.buf[off-in.base:]
}

// size returns the offset of the end of what has been read.
func (in *input) size() int64 {
	return in.base + int64(len(in.buf))
}

// skipSpace returns the offset of the first byte at or after off that is
// not JSON white space, reading more as needed; at the end of the stream,
// its size.
func (in *input) skipSpace(off int64) int64 {
	for {
		for ; off < in.size(); off++ {
			switch in.buf[off-in.base] {
			case ' ', '\t', '\r', '\n':
			default:
				return off
			}
		}
		if !in.more() {
			return off
		}
	}
}

// where names offset off, which it keeps, as "line L (byte B)", lines
// counted from 1.
func (in *input) where(off int64) string {
	off = min(max(off, in.base), in.size())
	line := 1 + in.lines + bytes.Count(in.buf[:off-in.base], []byte{'\n'})
	return fmt.Sprintf("line %d (byte %d)", line, off)
}

// cursor reads input from an offset on, as an io.Reader for a
// json.Decoder. The bytes it reads stay in the input.
type cursor struct {
	in  *input
	off int64
}

func (c *cursor) Read(p []byte) (int, error) {
	if c.off == c.in.size() && !c.in.more() {
		return 0, c.in.readErr()
	}
	n := copy(p, c.in.from(c.off))
	c.off += int64(n)
	return n, nil
}
