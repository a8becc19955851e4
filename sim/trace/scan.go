package trace

import (
	"bytes"
	"unicode/utf8"
)

// parser reads the JSON values of an EndpointSlice stream in one pass,
// without allocating: the strings it returns are slices of its input. It is
// strict: it takes only valid JSON whose decoding by encoding/json into the
// careful path's types (envelope, endpointSlice) is plain, and it declines
// anything else, leaving it to the careful path, which decodes it with
// encoding/json and reports its errors. It declines
//
//   - a value that is not an object, or is nested more than maxDepth deep;
//   - a known field twice (encoding/json merges repeated fields, or keeps
//     the last), or a field of the wrong JSON type;
//   - a key with an escape or a non-ASCII byte, which encoding/json may
//     match to a field in ways a byte comparison does not (\u escapes,
//     Unicode case folding);
//   - an escape or invalid UTF-8 in a string it returns;
//   - null where an object, a string of a map or a list element belongs;
//   - a port that is not an integer literal in the range of int32;
//   - any JSON syntax error.
//
// Field names match as encoding/json matches them, ignoring ASCII case.
type parser struct {
	b     []byte // the input, from the start of the value
	i     int    // the next byte to read
	depth int    // objects and arrays open
	short bool   // the input ended before the value did

	v      rawValue
	slices []rawSlice // the value's slices: its object or its items
	eps    []rawEndpoint
	ports  []rawPort
}

// maxDepth bounds the nesting the parser follows, well below
// encoding/json's 10000.
const maxDepth = 100

// tri is a JSON boolean that may be null or absent.
type tri uint8

const (
	triAbsent tri = iota // absent or null
	triFalse
	triTrue
)

// rawValue is a top-level value: a watch event, a List or an EndpointSlice.
type rawValue struct {
	typ       []byte
	self      rawSlice // the fields of an EndpointSlice; also the kind
	object    int      // index in parser.slices
	hasObject bool     // "object" is an object (not null or absent)
	items     [2]int   // range of parser.slices
}

// rawSlice is what the reader needs of an EndpointSlice.
type rawSlice struct {
	kind, name, namespace []byte
	service               []byte // the kubernetes.io/service-name label
	trigger               []byte // the last-change-trigger-time annotation
	hasService            bool
	hasTrigger            bool
	eps, ports            [2]int // ranges of parser.eps and parser.ports
	seen                  uint8  // the fields read, to decline repeats
}

// rawEndpoint is what the reader needs of one of its endpoints.
type rawEndpoint struct {
	addr                        []byte // the first address
	hasAddr                     bool   // there is one
	ready, serving, terminating tri
	zone                        []byte
	hasZone                     bool
}

// rawPort is one of its ports.
type rawPort struct {
	name    []byte
	hasName bool
	port    int64
	hasPort bool
}

// parse parses the object at the start of b. It returns the length of
// the value and true, or false if it declines the value or b ends inside
// it (then p.short is true).
func (p *parser) parse(b []byte) (int, bool) {
	*p = parser{b: b, slices: p.slices[:0], eps: p.eps[:0], ports: p.ports[:0]}
	if !p.top() {
		return 0, false
	}
	return p.i, true
}

// top parses a top-level value into p.v.
func (p *parser) top() bool {
	v := &p.v
	var seen uint8
	return p.members(func(key []byte) bool {
		switch {
		case fold(key, "type"):
			return once(&seen, 1) && p.str(&v.typ, nil)
		case fold(key, "object"):
			if !once(&seen, 2) {
				return false
			}
			if p.null() {
				return true
			}
			v.object, v.hasObject = len(p.slices), true
			return p.slice()
		case fold(key, "items"):
			if !once(&seen, 4) {
				return false
			}
			v.items[0] = len(p.slices)
			ok := p.null() || p.elements(p.slice)
			v.items[1] = len(p.slices)
			return ok
		}
		return p.sliceField(&v.self, key)
	})
}

// slice parses an EndpointSlice object into a new element of p.slices.
func (p *parser) slice() bool {
	p.slices = append(p.slices, rawSlice{})
	i := len(p.slices) - 1
	// p.slices does not grow while the members are read: slices do not nest.
	return p.members(func(key []byte) bool { return p.sliceField(&p.slices[i], key) })
}

// sliceField parses the value of member key of an EndpointSlice.
func (p *parser) sliceField(s *rawSlice, key []byte) bool {
	switch {
	case fold(key, "kind"):
		return once(&s.seen, 1) && p.str(&s.kind, nil)
	case fold(key, "addressType"):
		var unused []byte
		return once(&s.seen, 2) && p.str(&unused, nil)
	case fold(key, "metadata"):
		return once(&s.seen, 4) && (p.null() || p.metadata(s))
	case fold(key, "endpoints"):
		if !once(&s.seen, 8) {
			return false
		}
		s.eps[0] = len(p.eps)
		ok := p.null() || p.elements(p.endpoint)
		s.eps[1] = len(p.eps)
		return ok
	case fold(key, "ports"):
		if !once(&s.seen, 16) {
			return false
		}
		s.ports[0] = len(p.ports)
		ok := p.null() || p.elements(p.port)
		s.ports[1] = len(p.ports)
		return ok
	}
	return p.skip()
}

// metadata parses an EndpointSlice's metadata.
func (p *parser) metadata(s *rawSlice) bool {
	var seen uint8
	return p.members(func(key []byte) bool {
		switch {
		case fold(key, "name"):
			return once(&seen, 1) && p.str(&s.name, nil)
		case fold(key, "namespace"):
			return once(&seen, 2) && p.str(&s.namespace, nil)
		case fold(key, "labels"):
			return once(&seen, 4) && (p.null() || p.stringMap(serviceLabel, &s.service, &s.hasService))
		case fold(key, "annotations"):
			return once(&seen, 8) && (p.null() || p.stringMap(triggerAnnotation, &s.trigger, &s.hasTrigger))
		}
		return p.skip()
	})
}

// stringMap parses an object of strings, such as labels, and sets *dst to
// the value of key and *has to true if key is there (the last one if it is
// there twice, as encoding/json decodes a map).
func (p *parser) stringMap(key string, dst *[]byte, has *bool) bool {
	return p.members(func(k []byte) bool {
		if string(k) != key {
			var unused []byte
			return p.strict(&unused)
		}
		*has = true
		return p.strict(dst)
	})
}

// endpoint parses an element of an EndpointSlice's endpoints.
func (p *parser) endpoint() bool {
	var e rawEndpoint
	var seen uint8
	ok := p.members(func(key []byte) bool {
		switch {
		case fold(key, "addresses"):
			if !once(&seen, 1) {
				return false
			}
			if p.null() {
				return true
			}
			return p.elements(func() bool {
				var addr []byte
				if !p.strict(&addr) {
					return false
				}
				if !e.hasAddr {
					e.addr, e.hasAddr = addr, true
				}
				return true
			})
		case fold(key, "conditions"):
			return once(&seen, 2) && (p.null() || p.conditions(&e))
		case fold(key, "zone"):
			return once(&seen, 4) && p.str(&e.zone, &e.hasZone)
		}
		return p.skip()
	})
	if ok {
		p.eps = append(p.eps, e)
	}
	return ok
}

// conditions parses an endpoint's conditions.
func (p *parser) conditions(e *rawEndpoint) bool {
	var seen uint8
	return p.members(func(key []byte) bool {
		switch {
		case fold(key, "ready"):
			return once(&seen, 1) && p.boolean(&e.ready)
		case fold(key, "serving"):
			return once(&seen, 2) && p.boolean(&e.serving)
		case fold(key, "terminating"):
			return once(&seen, 4) && p.boolean(&e.terminating)
		}
		return p.skip()
	})
}

// port parses an element of an EndpointSlice's ports.
func (p *parser) port() bool {
	var pt rawPort
	var seen uint8
	ok := p.members(func(key []byte) bool {
		switch {
		case fold(key, "name"):
			return once(&seen, 1) && p.str(&pt.name, &pt.hasName)
		case fold(key, "port"):
			return once(&seen, 2) && (p.null() || p.int32(&pt.port, &pt.hasPort))
		}
		return p.skip()
	})
	if ok {
		p.ports = append(p.ports, pt)
	}
	return ok
}

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
