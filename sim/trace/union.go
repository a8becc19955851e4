package trace

import (
	"slices"
	"strings"
	"time"
)

// union merges the endpoints of a service's slices into one endpoint set,
// incrementally: it keeps, for each endpoint, the slices that list it, so
// that an update recomputes the merged state of the endpoints it touches
// only, and costs time in proportion to the slices that changed.
//
// An endpoint listed by several slices (while it moves between them) is
// one endpoint: ready if any of them says ready; its zone is the first
// non-empty zone, in the order of the slices' namespace/name, among the
// slices that agree with that readiness. (A slice that lists an address
// twice counts its first ready listing, or else its last one; see
// sliceReader.endpoints.)
type union struct {
	slices  map[string]map[string]endpointState // by namespace/name, then endpoint ID
	ids     map[string]*member                  // every endpoint listed or emitted, by ID
	touched []string                            // endpoints whose listings changed since emit
}

// member is one endpoint of the union.
type member struct {
	id   string
	in   []listing     // the slices that list the endpoint, by key
	cur  endpointState // the merged state as of the last emit
	live bool          // the endpoint was added and not removed
}

// listing is what one slice says about an endpoint.
type listing struct {
	key string // the slice's namespace/name
	st  endpointState
}

// sliceChange is the new content of one slice; nil endpoints delete it.
type sliceChange struct {
	key       string
	endpoints map[string]endpointState
}

func newUnion() union {
	return union{slices: map[string]map[string]endpointState{}, ids: map[string]*member{}}
}

// apply makes the changes, in order. If replace is true they are all the
// slices there are: the slices they do not name are deleted.
func (u *union) apply(changes []sliceChange, replace bool) {
	if replace {
		named := make(map[string]bool, len(changes))
		for _, c := range changes {
			named[c.key] = true
		}
		for key := range u.slices {
			if !named[key] {
				u.set(key, nil)
			}
		}
	}
	for _, c := range changes {
		u.set(c.key, c.endpoints)
	}
}

// set replaces the endpoints of slice key, deleting it if eps is nil, and
// notes the endpoints whose listing changed.
func (u *union) set(key string, eps map[string]endpointState) {
	old := u.slices[key]
	for id, st := range eps {
		if was, ok := old[id]; !ok || was != st {
			u.list(id, key, st, true)
		}
	}
	for id := range old {
		if _, ok := eps[id]; !ok {
			u.list(id, key, endpointState{}, false)
		}
	}
	if eps == nil {
		delete(u.slices, key)
	} else {
		u.slices[key] = eps
	}
}

// list records that slice key lists endpoint id in state st, or, if listed
// is false, that it does not list it.
func (u *union) list(id, key string, st endpointState, listed bool) {
	m := u.ids[id]
	if m == nil {
		m = &member{id: id}
		u.ids[id] = m
	}
	i, found := slices.BinarySearchFunc(m.in, key, func(l listing, key string) int {
		return strings.Compare(l.key, key)
	})
	switch {
	case listed && found:
		m.in[i].st = st
	case listed:
		m.in = slices.Insert(m.in, i, listing{key: key, st: st})
	case found:
		m.in = slices.Delete(m.in, i, i+1)
	}
	u.touched = append(u.touched, id)
}

// id returns the ID of the endpoint whose ID has the bytes b, if it is
// listed or emitted: the fast path's way to build each ID once.
func (u *union) id(b []byte) (string, bool) {
	if m := u.ids[string(b)]; m != nil {
		return m.id, true
	}
	return "", false
}

// merged returns the endpoint's state in the union, and false if no slice
// lists it.
func (m *member) merged() (endpointState, bool) {
	if len(m.in) == 0 {
		return endpointState{}, false
	}
	st := m.in[0].st
	for _, l := range m.in[1:] {
		switch {
		case l.st.ready && !st.ready:
			st = l.st
		case st.zone == "" && l.st.ready == st.ready:
			st.zone = l.st.zone
		}
	}
	return st, true
}

// emit appends to events the changes, at time at, of the endpoints touched
// since the last emit, in endpoint order: an add (and a ready) for an
// endpoint that appeared, a remove (with its last zone) for one that is
// gone, a ready or unready for one whose readiness changed. A change of
// zone alone is no event.
func (u *union) emit(at time.Duration, events []Event) []Event {
	slices.Sort(u.touched)
	for _, id := range slices.Compact(u.touched) {
		m := u.ids[id]
		st, is := m.merged()
		ev := Event{At: at, Endpoint: id, Zone: st.zone}
		switch {
		case !is:
			if m.live {
				ev.Kind, ev.Zone = Remove, m.cur.zone
				events = append(events, ev)
			}
			delete(u.ids, id)
		case !m.live:
			ev.Kind = Add
			events = append(events, ev)
			if st.ready {
				ev.Kind = Ready
				events = append(events, ev)
			}
		case st.ready != m.cur.ready:
			ev.Kind = Unready
			if st.ready {
				ev.Kind = Ready
			}
			events = append(events, ev)
		}
		m.cur, m.live = st, is
	}
	clear(u.touched)
	u.touched = u.touched[:0]
	return events
}
