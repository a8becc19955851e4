package trace

import (
	"bytes"
	"strconv"
	"time"
)

// fast applies a value the parser parsed into v, as value would apply it,
// and reports true; or reports false, having changed nothing that value
// would not change in the same way, for value to handle. It leaves to value
// every value it would report an error for, so that value finds the
// offsets for the message.
func (sr *sliceReader) fast(v *rawValue) bool {
	batch := sr.batch[:0]
	how := applyOne
	switch {
	case len(v.typ) > 0:
		// A watch event, if it has an object; value handles it if not.
		switch string(v.typ) {
		case "ADDED", "MODIFIED":
		case "DELETED":
			how = deleteOne
		case "BOOKMARK":
			return v.hasObject
		default:
			return false
		}
		if !v.hasObject {
			return false
		}
		take, ok := sr.admit(&sr.p.slices[v.object], false)
		if !ok {
			return false
		}
		if take {
			batch = append(batch, &sr.p.slices[v.object])
		}
	case bytes.HasSuffix(v.self.kind, []byte("List")):
		if string(v.self.kind) != "List" && string(v.self.kind) != "EndpointSliceList" {
			return false
		}
		how = replaceAll
		for i := v.items[0]; i < v.items[1]; i++ {
			take, ok := sr.admit(&sr.p.slices[i], true)
			if !ok {
				return false
			}
			if take {
				batch = append(batch, &sr.p.slices[i])
			}
		}
		if len(batch) == 0 && len(sr.union.slices) == 0 {
			return true // nothing was known and nothing is: not an update
		}
	default:
		take, ok := sr.admit(&v.self, false)
		if !ok {
			return false
		}
		if take {
			batch = append(batch, &v.self)
		}
	}
	sr.batch = batch
	if len(batch) == 0 && how != replaceAll {
		return true // a slice of another service
	}
	return sr.fastUpdate(batch, how)
}

// admit checks a slice as accept does, and reports whether to take it
// (false for a slice of another service) and whether it is good.
func (sr *sliceReader) admit(s *rawSlice, item bool) (take, ok bool) {
	if string(s.kind) != "EndpointSlice" && !(item && len(s.kind) == 0) || len(s.name) == 0 {
		return false, false
	}
	var svc []byte
	if s.hasService {
		svc = s.service
	}
	return sr.record(string(s.namespace), string(svc)), true
}

// fastUpdate does what update does for slices the parser parsed. It
// changes nothing if the update is an error.
func (sr *sliceReader) fastUpdate(batch []*rawSlice, how int) bool {
	if sr.checkServices(false) != nil {
		return false
	}
	var at time.Time
	annotated := false
	changes := sr.changes[:0]
	for _, s := range batch {
		if s.hasTrigger {
			t, err := time.Parse(time.RFC3339Nano, string(s.trigger))
			if err != nil {
				return false
			}
			if !annotated || t.After(at) {
				at, annotated = t, true
			}
		}
		c := sliceChange{key: string(s.namespace) + "/" + string(s.name)}
		if how != deleteOne {
			var ok bool
			if c.endpoints, ok = sr.fastEndpoints(s, c.key); !ok {
				clear(changes)
				return false
			}
		}
		changes = append(changes, c)
	}
	sr.commit(changes, how, at, annotated)
	return true
}

// fastEndpoints does what endpoints does for a slice the parser parsed. An
// ID or zone that the slice had before is taken from there, which spares
// building and checking it again.
func (sr *sliceReader) fastEndpoints(s *rawSlice, key string) (map[string]endpointState, bool) {
	eps := sr.p.eps[s.eps[0]:s.eps[1]]
	m := make(map[string]endpointState, len(eps))
	if len(eps) == 0 {
		return m, true
	}
	port, ok := sr.fastPort(s)
	if !ok {
		return nil, false
	}
	old := sr.union.slices[key]
	for _, e := range eps {
		if !e.hasAddr || len(e.addr) == 0 {
			return nil, false
		}
		b := e.addr
		if port != "" {
			b = joinHostPort(sr.idBuf[:0], bytes.Trim(e.addr, "[]"), port)
			sr.idBuf = b
		}
		id, known := sr.union.id(b)
		if !known {
			id = string(b)
			if checkName("endpoint", id) != "" {
				return nil, false
			}
		}
		st := endpointState{ready: e.ready != triFalse && e.serving != triFalse && e.terminating != triTrue}
		if e.hasZone {
			if was, ok := old[id]; ok && was.zone == string(e.zone) {
				st.zone = was.zone
			} else {
				st.zone = string(e.zone)
				if checkName("zone", st.zone) != "" {
					return nil, false
				}
			}
		}
		if was, dup := m[id]; dup && was.ready {
			continue
		}
		m[id] = st
	}
	return m, true
}

// fastPort does what port does for a slice the parser parsed.
func (sr *sliceReader) fastPort(s *rawSlice) (string, bool) {
	ports := sr.p.ports[s.ports[0]:s.ports[1]]
	if len(ports) == 0 {
		return "", true
	}
	for _, p := range ports {
		if sr.opt.Port == "" || p.hasName && sr.opt.Port == string(p.name) {
			if !p.hasPort || p.port <= 0 || p.port > 65535 {
				return "", false
			}
			if p.port != sr.portNum {
				sr.portNum, sr.portStr = p.port, strconv.FormatInt(p.port, 10)
			}
			return sr.portStr, true
		}
	}
	return "", false
}

// joinHostPort appends host and port joined as net.JoinHostPort joins
// them to b.
func joinHostPort(b, host []byte, port string) []byte {
	if bytes.IndexByte(host, ':') >= 0 {
		b = append(append(append(b, '['), host...), "]:"...)
	} else {
		b = append(append(b, host...), ':')
	}
	return append(b, port...)
}
