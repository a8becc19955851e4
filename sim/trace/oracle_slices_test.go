package trace

// The old slices.go: see oracle_stream_test.go.

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
