package trace

import (
	"bytes"
	"unicode/utf8"
)

// This file has the parser's reading of JSON text: objects, arrays,
// strings, numbers and literals, strictly as RFC 8259 (and encoding/json)
// define them.

// once sets bit in *seen and reports whether it was clear.
func once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// fold reports whether key is name, ignoring the case of ASCII letters.
func fold(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range len(key) {
		if lower(key[i]) != lower(name[i]) {
			return false
		}
	}
	return true
}

// lower returns c in lower case if it is an ASCII letter.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// members parses an object, calling member for each key, with the value
// next to read, to parse the value. Keys may not hold escapes or non-ASCII
// bytes.
func (p *parser) members(member func(key []byte) bool) bool {
	if !p.open('{') {
		return false
	}
	if c, ok := p.peek(); !ok {
		return false
	} else if c == '}' {
		p.i++
		p.depth--
		return true
	}
	for {
		var key []byte
		if !p.strict(&key) || !ascii(key) || !p.want(':') || !member(key) {
			return false
		}
		c, ok := p.peek()
		if !ok {
			return false
		}
		p.i++
		switch c {
		case ',':
		case '}':
			p.depth--
			return true
		default:
			return false
		}
	}
}

// elements parses an array, calling element for each element.
func (p *parser) elements(element func() bool) bool {
	if !p.open('[') {
		return false
	}
	if c, ok := p.peek(); !ok {
		return false
	} else if c == ']' {
		p.i++
		p.depth--
		return true
	}
	for {
		if !element() {
			return false
		}
		c, ok := p.peek()
		if !ok {
			return false
		}
		p.i++
		switch c {
		case ',':
		case ']':
			p.depth--
			return true
		default:
			return false
		}
	}
}

// open reads the byte c that opens an object or array.
func (p *parser) open(c byte) bool {
	if !p.want(c) {
		return false
	}
	p.depth++
	return p.depth <= maxDepth
}

// want reads the byte c after white space.
func (p *parser) want(c byte) bool {
	got, ok := p.peek()
	if ok && got == c {
		p.i++
		return true
	}
	return false
}

// peek skips white space and returns the next byte without reading it.
func (p *parser) peek() (byte, bool) {
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; c {
		case ' ', '\n', '\t', '\r':
		default:
			return c, true
		}
	}
	p.short = true
	return 0, false
}

// null reads a null if one is next.
func (p *parser) null() bool {
	if c, ok := p.peek(); ok && c == 'n' {
		return p.literal("null")
	}
	return false
}

// str reads a string or, if has is not nil, a null (then *has is false).
// A null for a string without has leaves it unchanged, as encoding/json
// does.
func (p *parser) str(dst *[]byte, has *bool) bool {
	if c, ok := p.peek(); ok && c == 'n' {
		if has != nil {
			*has = false
		}
		return p.literal("null")
	}
	if has != nil {
		*has = true
	}
	return p.strict(dst)
}

// strict reads a string without escapes, with valid UTF-8: one that
// encoding/json decodes to its bytes.
func (p *parser) strict(dst *[]byte) bool {
	if !p.want('"') {
		return false
	}
	n := bytes.IndexByte(p.b[p.i:], '"')
	if n < 0 {
		p.short = true
		return false
	}
	s := p.b[p.i : p.i+n]
	var high byte
	for _, c := range s {
		if c < ' ' || c == '\\' {
			return false
		}
		high |= c
	}
	if high >= utf8.RuneSelf && !utf8.Valid(s) {
		return false
	}
	*dst = s
	p.i += n + 1
	return true
}

// ascii reports whether s is ASCII.
func ascii(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// boolean reads true, false or null.
func (p *parser) boolean(dst *tri) bool {
	c, ok := p.peek()
	switch {
	case !ok:
		return false
	case c == 't':
		*dst = triTrue
		return p.literal("true")
	case c == 'f':
		*dst = triFalse
		return p.literal("false")
	}
	*dst = triAbsent
	return p.literal("null")
}

// literal reads the word, which must be next.
func (p *parser) literal(word string) bool {
	rest := p.b[p.i:]
	if len(rest) < len(word) {
		p.short = string(rest) == word[:len(rest)]
		return false
	}
	if string(rest[:len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

// int32 reads a number that is an integer in the range of int32, as
// encoding/json decodes into an int32.
func (p *parser) int32(dst *int64, has *bool) bool {
	start := p.i
	if !p.number() {
		return false
	}
	s := p.b[start:p.i]
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) > 10 {
		return false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return false // a fraction or an exponent
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if n < -1<<31 || n > 1<<31-1 {
		return false
	}
	*dst, *has = n, true
	return true
}

// number reads a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() bool {
	if _, ok := p.peek(); !ok {
		return false
	}
	b, i := p.b, p.i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i == len(b):
		p.short = true
		return false
	case b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			p.short = i == len(b)
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.short = i == len(b)
			return false
		}
	}
	if i == len(b) {
		p.short = true // more digits may follow
		return false
	}
	p.i = i
	return true
}

// skip reads any JSON value.
func (p *parser) skip() bool {
	c, ok := p.peek()
	switch {
	case !ok:
		return false
	case c == '{':
		return p.members(func([]byte) bool { return p.skip() })
	case c == '[':
		return p.elements(p.skip)
	case c == '"':
		return p.skipString()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.number()
}

// skipString reads any JSON string.
func (p *parser) skipString() bool {
	b := p.b
	for i := p.i + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			p.i = i + 1
			return true
		case c < ' ':
			return false
		case c == '\\':
			i++
			if i == len(b) {
				break
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i-1 < 4 {
					p.short = true
					return false
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= lower(h) && lower(h) <= 'f') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	p.short = true
	return false
}
