package trace

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
//   - null as an element of a list or a value of a map, where encoding/json
//     stores a zero value (null elsewhere leaves the field as it is, zero,
//     as encoding/json does, and fast decides what that means);
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
