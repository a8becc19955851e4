package trace

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The label and annotation that EndpointSlices carry (discovery.k8s.io/v1).
const (
	serviceLabel      = "kubernetes.io/service-name"
	triggerAnnotation = "endpoints.kubernetes.io/last-change-trigger-time"
)

// SliceOptions says how to turn an EndpointSlice stream into a trace. The
// zero SliceOptions reads a stream of a single service, names endpoints by
// their first port, and spaces unannotated updates 1s apart.
type SliceOptions struct {
	// Service is the service whose endpoints to follow, matched against
	// the kubernetes.io/service-name label as "name" or "namespace/name".
	// Empty means the stream's only service: a slice of a second service
	// is then an error that lists the services seen.
	Service string
	// Port is the name of the port that forms each endpoint's ID
	// ("address:port"). Empty means each slice's first port.
	Port string
	// Interval is the time between consecutive updates that carry no
	// last-change-trigger-time annotation. Zero or less means 1s.
	Interval time.Duration
}

// sliceReader reads an EndpointSlice stream: it is the format of a Reader
// made by NewSliceReader.
type sliceReader struct {
	opt SliceOptions
	in  *input
	p   parser
	end int64 // where the last complete value ends

	union    union           // the service's slices and their endpoints
	services map[string]bool // every service seen, as namespace/name
	matched  map[string]bool // services that SliceOptions.Service matched
	objects  int             // complete top-level values read
	emitted  int             // events emitted

	// Scratch space for update and the fast path.
	changes []sliceChange
	batch   []*rawSlice
	idBuf   []byte
	portNum int64  // the port number last formatted
	portStr string // and its decimal form

	clock  clock
	events []Event // where the call of next in progress appends events
}

// endpointState is what a slice says about one endpoint.
type endpointState struct {
	ready bool
	zone  string
}

// The parts of the JSON values the reader looks at.
type (
	endpointSlice struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		AddressType string          `json:"addressType"`
		Endpoints   []sliceEndpoint `json:"endpoints"`
		Ports       []slicePort     `json:"ports"`

		start int64 // byte offset in the input, for errors
	}
	sliceEndpoint struct {
		Addresses  []string `json:"addresses"`
		Conditions struct {
			Ready       *bool `json:"ready"`
			Serving     *bool `json:"serving"`
			Terminating *bool `json:"terminating"`
		} `json:"conditions"`
		Zone *string `json:"zone"`
	}
	slicePort struct {
		Name *string `json:"name"`
		Port *int32  `json:"port"`
	}
)

// slice decodes one EndpointSlice and accepts it. Items of a List may
// leave out the kind.
func (sr *sliceReader) slice(raw json.RawMessage, start int64, item bool) (*endpointSlice, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, sr.errAt(ErrSyntax, start, "JSON %s is not an EndpointSlice", jsonType(firstByte(raw)))
	}
	s := new(endpointSlice)
	s.start = start
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, sr.errAt(ErrSyntax, start, "EndpointSlice: %v", err)
	}
	return sr.accept(s, item)
}

// accept checks a decoded EndpointSlice and records its service. It
// returns nil for a slice of another service than the chosen one. Its twin
// for the parser's slices is admit.
func (sr *sliceReader) accept(s *endpointSlice, item bool) (*endpointSlice, error) {
	if s.Kind != "EndpointSlice" && !(item && s.Kind == "") {
		if s.Kind == "" {
			return nil, sr.errAt(ErrSyntax, s.start, "object without a kind (want EndpointSlice)")
		}
		return nil, sr.errAt(ErrSyntax, s.start, "found a %s, not an EndpointSlice", s.Kind)
	}
	if s.Metadata.Name == "" {
		return nil, sr.errAt(ErrSyntax, s.start, "EndpointSlice without metadata.name")
	}
	if !sr.record(s.Metadata.Namespace, s.Metadata.Labels[serviceLabel]) {
		return nil, nil
	}
	return s, nil
}

// record records the service of a slice, named by its namespace and its
// kubernetes.io/service-name label, and reports whether it is the chosen
// one.
func (sr *sliceReader) record(namespace, svc string) bool {
	id := svc
	if namespace != "" {
		id = namespace + "/" + svc
	}
	sr.services[id] = true
	if sr.opt.Service != "" && sr.opt.Service != id && (svc == "" || sr.opt.Service != svc) {
		return false
	}
	sr.matched[id] = true
	return true
}

// How update applies its slices.
const (
	applyOne   = iota // a new or changed slice
	deleteOne         // a DELETED watch event
	replaceAll        // a List: the slices in it are all there are
)

// update applies the slices of one update (one object, one watch event or
// one List) and emits the changes of the union as events. It checks the
// services seen and the slices first, and changes nothing if they fail.
// Its twin for the parser's slices is fastUpdate.
func (sr *sliceReader) update(batch []*endpointSlice, how int) error {
	if err := sr.checkServices(false); err != nil {
		return err
	}
	var at time.Time
	annotated := false
	changes := sr.changes[:0]
	for _, s := range batch {
		key := s.Metadata.Namespace + "/" + s.Metadata.Name
		if v, ok := s.Metadata.Annotations[triggerAnnotation]; ok {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return sr.errAt(ErrSyntax, s.start, "EndpointSlice %s: %s %q is not an RFC 3339 time", s.Metadata.Name, triggerAnnotation, v)
			}
			if !annotated || t.After(at) {
				at, annotated = t, true
			}
		}
		c := sliceChange{key: key}
		if how != deleteOne {
			var err error
			if c.endpoints, err = sr.endpoints(s); err != nil {
				return err
			}
		}
		changes = append(changes, c)
	}
	sr.commit(changes, how, at, annotated)
	return nil
}

// commit applies the changes of an update that passed its checks, and
// emits the changes of the union as events at the update's time.
func (sr *sliceReader) commit(changes []sliceChange, how int, at time.Time, annotated bool) {
	sr.union.apply(changes, how == replaceAll)
	clear(changes)
	sr.changes = changes[:0]
	n := len(sr.events)
	sr.events = sr.union.emit(sr.clock.tick(at, annotated, sr.opt.Interval), sr.events)
	sr.emitted += len(sr.events) - n
}

// endpoints returns a slice's endpoints by ID. Its twin for the parser's
// slices is fastEndpoints: change them together.
func (sr *sliceReader) endpoints(s *endpointSlice) (map[string]endpointState, error) {
	eps := make(map[string]endpointState, len(s.Endpoints))
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
		st := endpointState{
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
// slice has no ports. Its twin is fastPort.
func (sr *sliceReader) port(s *endpointSlice) (string, error) {
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

// checkServices rejects a stream of several services when none was
// chosen, and of several that match the chosen name; at the end of the
// stream, one without the chosen service.
func (sr *sliceReader) checkServices(end bool) error {
	switch {
	case sr.opt.Service != "" && len(sr.matched) > 1:
		matched := serviceNames(sr.matched)
		return fmt.Errorf("trace: service %q matches %d services (%s); name one as namespace/name: %w",
			sr.opt.Service, len(matched), strings.Join(matched, ", "), ErrService)
	case sr.opt.Service == "" && len(sr.services) > 1:
		seen := serviceNames(sr.services)
		return fmt.Errorf("trace: the stream holds EndpointSlices of %d services (%s); choose one with SliceOptions.Service: %w",
			len(seen), strings.Join(seen, ", "), ErrService)
	case end && sr.opt.Service != "" && len(sr.matched) == 0 && len(sr.services) > 0:
		return fmt.Errorf("trace: no EndpointSlices of service %q in the stream (it holds %s): %w",
			sr.opt.Service, strings.Join(serviceNames(sr.services), ", "), ErrService)
	}
	return nil
}

// serviceNames lists the services of set, sorted, for messages.
func serviceNames(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for s := range set {
		if s == "" || strings.HasSuffix(s, "/") {
			s += "(no " + serviceLabel + " label)"
		}
		names = append(names, s)
	}
	slices.Sort(names)
	return names
}

// clock assigns trace times to updates: the last-change-trigger-time
// annotation relative to the first one seen, or Interval after the previous
// update without one, never going backwards.
type clock struct {
	started  bool
	at       time.Duration // the time of the last update
	anchored bool
	zero     time.Time // the wall time of trace time 0, set by the first annotation
}

// tick returns the time of the next update; wall is its annotation if
// annotated is true.
func (c *clock) tick(wall time.Time, annotated bool, interval time.Duration) time.Duration {
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
