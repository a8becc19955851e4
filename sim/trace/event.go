package trace

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is what happens to an endpoint. The zero Kind is not a valid kind.
type Kind uint8

// The kinds of event, in the order an endpoint's life usually runs.
const (
	// Add makes an endpoint known, not yet ready for traffic.
	Add Kind = iota + 1
	// Ready makes a known endpoint ready for traffic.
	Ready
	// Unready takes a ready endpoint out of rotation; it stays known.
	Unready
	// Remove forgets an endpoint, ready or not.
	Remove
)

var kindNames = [...]string{Add: "add", Ready: "ready", Unready: "unready", Remove: "remove"}

// String returns the kind's name as the CSV format spells it: "add",
// "ready", "unready" or "remove".
func (k Kind) String() string {
	if k >= Add && k <= Remove {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// parseKind is the inverse of Kind.String.
func parseKind(s string) (Kind, bool) {
	for k := Add; k <= Remove; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// Event is one change to one endpoint.
type Event struct {
	// At is the time of the change since the start of the trace.
	At time.Duration
	// Kind is what happens.
	Kind Kind
	// Endpoint is the balancer.Backend ID of the endpoint, such as
	// "10.0.1.7:8080" or "[fd00::7]:8080".
	Endpoint string
	// Weight is the endpoint's weight. Zero means unchanged, or the
	// default for a new endpoint.
	Weight uint32
	// Zone is the endpoint's topology zone. Empty means unknown.
	Zone string
}

// Errors the readers and Validate wrap; test for them with errors.Is.
var (
	// ErrSyntax reports input that is not a well-formed trace: an unknown
	// event, a bad time or weight, a malformed line or JSON value, an
	// object that is not an EndpointSlice.
	ErrSyntax = errors.New("trace: syntax error")
	// ErrOrder reports well-formed events in an impossible order: time
	// going backwards, or a kind that is illegal for the endpoint's state
	// (ready twice, unready when not ready, remove of an unknown endpoint).
	ErrOrder = errors.New("trace: events out of order")
	// ErrTruncated reports an EndpointSlice stream that ends inside a JSON
	// value. ReadEndpointSlices returns the events of the complete values
	// before it together with the error.
	ErrTruncated = errors.New("trace: truncated input")
	// ErrService reports an EndpointSlice stream that holds several
	// services while SliceOptions.Service is empty, several that match the
	// name it gives (in different namespaces), or none.
	ErrService = errors.New("trace: service selection")
)

// posError is an error at a position in the input ("line 7", "event 3").
// Its message is "trace: <pos>: <msg>"; it unwraps to one of the sentinels
// above, so that the message does not repeat the sentinel's text.
type posError struct {
	pos  string
	msg  string
	kind error
}

func (e *posError) Error() string { return "trace: " + e.pos + ": " + e.msg }
func (e *posError) Unwrap() error { return e.kind }

func errAt(kind error, pos string, format string, args ...any) error {
	return &posError{pos: pos, msg: fmt.Sprintf(format, args...), kind: kind}
}

func lineErr(kind error, line int, format string, args ...any) error {
	return errAt(kind, fmt.Sprintf("line %d", line), format, args...)
}

// phase is an endpoint's state while a trace is checked.
type phase uint8

const (
	absent phase = iota
	notReady
	isReady
)

// checker follows each endpoint through a trace and rejects events that
// are illegal in the endpoint's current phase. The zero checker is ready to
// use.
type checker struct {
	phases map[string]phase
}

// step applies e, or returns a message saying why e is illegal and the
// sentinel to wrap.
func (c *checker) step(e Event) (msg string, kind error) {
	if msg := checkFields(e); msg != "" {
		return msg, ErrSyntax
	}
	return c.advance(e)
}

// advance is step for an event whose fields have been checked.
func (c *checker) advance(e Event) (msg string, kind error) {
	if c.phases == nil {
		c.phases = map[string]phase{}
	}
	p := c.phases[e.Endpoint]
	switch {
	case e.Kind == Add && p != absent:
		return fmt.Sprintf("add of %q, which already exists", e.Endpoint), ErrOrder
	case e.Kind == Ready && p == absent:
		return fmt.Sprintf("ready of unknown endpoint %q (add it first)", e.Endpoint), ErrOrder
	case e.Kind == Ready && p == isReady:
		return fmt.Sprintf("ready of %q, which is already ready", e.Endpoint), ErrOrder
	case e.Kind == Unready && p != isReady:
		return fmt.Sprintf("unready of %q, which is not ready", e.Endpoint), ErrOrder
	case e.Kind == Remove && p == absent:
		return fmt.Sprintf("remove of unknown endpoint %q", e.Endpoint), ErrOrder
	}
	switch e.Kind {
	case Add, Unready:
		c.phases[e.Endpoint] = notReady
	case Ready:
		c.phases[e.Endpoint] = isReady
	case Remove:
		delete(c.phases, e.Endpoint)
	}
	return "", nil
}

// known reports whether endpoint has been added and not removed.
func (c *checker) known(endpoint string) bool {
	return c.phases[endpoint] != absent
}

// checkFields returns why e's fields cannot be written as CSV, or "".
func checkFields(e Event) string {
	switch {
	case e.Kind < Add || e.Kind > Remove:
		return fmt.Sprintf("invalid kind %v", e.Kind)
	case e.At < 0:
		return fmt.Sprintf("negative time %v", e.At)
	case e.Endpoint == "":
		return "empty endpoint"
	}
	if msg := checkName("endpoint", e.Endpoint); msg != "" {
		return msg
	}
	return checkName("zone", e.Zone)
}

// checkName rejects the characters a CSV field cannot hold: commas,
// whitespace, control characters and invalid UTF-8.
func checkName(what, s string) string {
	bad := false
	for i := 0; i < len(s) && !bad; i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			bad = strings.ContainsFunc(s[i:], func(r rune) bool {
				return r == ',' || r == unicode.ReplacementChar || unicode.IsSpace(r) || unicode.IsControl(r)
			})
			i = len(s)
		case c <= ' ', c == ',', c == 0x7f: // in ASCII, those
			bad = true
		}
	}
	if !bad {
		return ""
	}
	return fmt.Sprintf("%s %q holds a comma, space, control character or invalid UTF-8", what, s)
}

// Validate checks that events form a trace: times are non-negative and
// non-decreasing, every event has a valid kind and a non-empty endpoint
// without commas, spaces or control characters, and each endpoint's events
// follow its life: add, then ready and unready alternating, then remove,
// after which it may be added again. A ready endpoint may be removed
// directly (a pod killed without draining). Ready of an unknown endpoint is
// an error here: ReadCSV expands the CSV shorthand into an explicit add and
// ready, so every trace the readers return passes Validate.
//
// Errors name the event's index and wrap ErrSyntax or ErrOrder.
func Validate(events []Event) error {
	var c checker
	for i, e := range events {
		if i > 0 && e.At < events[i-1].At {
			return errAt(ErrOrder, fmt.Sprintf("event %d", i),
				"time %v is before %v of event %d", e.At, events[i-1].At, i-1)
		}
		if msg, kind := c.step(e); kind != nil {
			return errAt(kind, fmt.Sprintf("event %d", i), "%s", msg)
		}
	}
	return nil
}
