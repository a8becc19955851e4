package balancer

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoEndpoints is returned by every Pick when the set of endpoints is
// empty.
var ErrNoEndpoints = errors.New("balancer: no endpoints")

// ErrInvalidBackend is wrapped by the errors Update and Validate return for
// an empty, nil or duplicate backend.
var ErrInvalidBackend = errors.New("balancer: invalid backend")

// Request is what a pick may look at. The zero Request is valid: no hash,
// first attempt, the current time.
type Request struct {
	// Hash is the request's key hash, for hash pickers (ringhash, maglev).
	// HashString and HashBytes make one from a key.
	Hash uint64
	// HasHash says whether Hash is set. When it is false, hash pickers pick
	// as if the hash were random.
	HasHash bool
	// Attempt is 0 for the first try; a retry with Attempt k > 0 should land
	// on a different endpoint than the earlier attempts.
	Attempt int
	// Now is the time of the pick in Unix nanoseconds (time.UnixNano),
	// for pickers that read the clock (peak EWMA). Zero means time.Now(),
	// read only by pickers that need it. It is an int64 rather than a
	// time.Time so that a Request stays four machine words, which the
	// compiler passes to Pick in registers.
	Now int64
}

// Picker chooses an endpoint for a request. A Picker is an immutable
// snapshot of one endpoint set: only atomics change inside it. Pick is safe
// for concurrent use by multiple goroutines, never blocks and allocates
// nothing. On an empty set it returns ErrNoEndpoints.
type Picker interface {
	Pick(Request) (*Endpoint, error)
}

// Builder makes a Picker from the current endpoints. Each algorithm's
// Config type is its Builder.
//
// Build may keep the slice but must not modify it; the caller must not
// modify it afterwards. Build must accept an empty slice and return a
// Picker that answers ErrNoEndpoints, and must return an error, never
// panic, on endpoints it cannot use.
type Builder interface {
	Build([]*Endpoint) (Picker, error)
}

// LatencyDecayer is implemented by Builders whose pickers read endpoint
// latency. A Balancer averages the latency of the endpoints it makes with
// the time constant LatencyDecay returns, instead of DefaultLatencyDecay.
type LatencyDecayer interface {
	LatencyDecay() time.Duration
}

// TotalInFlightTracker is implemented by Builders whose pickers bound each
// endpoint's load by the total in flight (consistent hashing with bounded
// loads). When TrackTotalInFlight reports true, a Balancer keeps a running
// total of the requests in flight across its endpoints, which
// Endpoint.TotalInFlight reads in O(1). Other Balancers skip that count.
type TotalInFlightTracker interface {
	TrackTotalInFlight() bool
}

// ConsistentHasher is implemented by Builders whose pickers map request
// hashes to endpoints by a table that is a function of the endpoint set
// (ring hash, Maglev). Changing an endpoint's weight rebuilds that table
// and moves keys among the other endpoints too, so policies that adjust
// weights over time (slow start) leave such Builders' weights alone.
type ConsistentHasher interface {
	ConsistentHash() bool
}

// TableSizer is implemented by Pickers that hold lookup tables (ring hash,
// Maglev). TableBytes returns the memory the tables take, in bytes, not
// counting the endpoints themselves.
type TableSizer interface {
	TableBytes() int
}

// EmptyPicker is the Picker of an empty endpoint set: every Pick returns
// ErrNoEndpoints.
type EmptyPicker struct{}

// Pick returns ErrNoEndpoints.
func (EmptyPicker) Pick(Request) (*Endpoint, error) { return nil, ErrNoEndpoints }

// Result is the outcome of a successful pick. The caller sends the request
// to Result.Endpoint and then calls Done exactly once.
type Result struct {
	Endpoint *Endpoint
}

// Failure says how a request failed, for outlier detection and for the
// pickers that avoid failing endpoints. The zero Failure defers to
// DoneInfo.Err: a success when it is nil, an UpstreamFailure otherwise.
type Failure uint8

const (
	// UpstreamFailure is an answer from the upstream that says it failed:
	// an HTTP 5xx, a gRPC application error. Envoy's "5xx".
	UpstreamFailure Failure = 1 + iota
	// GatewayFailure is no usable answer at all: the connection was
	// refused or reset, or the request timed out. It counts towards the
	// consecutive 5xx too, as Envoy counts a connect failure as a 503 and
	// a timeout as a 504.
	GatewayFailure
	// Canceled is a request the caller gave up on (its client went away):
	// it leaves flight but counts as neither a success nor a failure, and
	// feeds no latency.
	Canceled
	// Success is a success even when Err is set (a 4xx the caller reports
	// as an error, say).
	Success
)

// String returns the failure kind's name.
func (f Failure) String() string {
	switch f {
	case 0:
		return "auto"
	case UpstreamFailure:
		return "upstream"
	case GatewayFailure:
		return "gateway"
	case Canceled:
		return "canceled"
	case Success:
		return "success"
	}
	return fmt.Sprintf("Failure(%d)", uint8(f))
}

// kind resolves the zero Failure from Err: 0 for a success, else the kind.
func (d DoneInfo) kind() Failure {
	switch f := d.Failure; {
	case f == 0 && d.Err == nil, f == Success:
		return 0
	case f == 0:
		return UpstreamFailure
	default:
		return f
	}
}

// DoneInfo describes how a request ended. The zero DoneInfo is a success
// with no latency sample.
type DoneInfo struct {
	// Err is the request's error. Unless Failure says otherwise, non-nil
	// counts an UpstreamFailure.
	Err error
	// Failure classifies the outcome; zero means: from Err.
	Failure Failure
	// Latency is the request's observed latency. A positive value is folded
	// into the endpoint's peak-EWMA latency; zero means not measured.
	Latency time.Duration
	// Now is when the request ended, in Unix nanoseconds, for the EWMA's
	// decay. Zero means time.Now(), read only when Latency is positive.
	Now int64
}

// Done ends the request: it takes it out of flight, counts its outcome and
// feeds its latency to the endpoint's EWMA. It allocates nothing. Done on a
// zero Result does nothing.
func (r Result) Done(d DoneInfo) {
	if r.Endpoint != nil {
		r.Endpoint.end(d)
	}
}

// Validate reports whether eps is a set a Builder can use: no nil endpoint,
// no empty ID, no ID twice. Builders that depend on distinct IDs call it.
func Validate(eps []*Endpoint) error {
	seen := make(map[string]int, len(eps))
	for i, e := range eps {
		if e == nil || e.load == nil {
			return fmt.Errorf("%w: endpoint %d is nil or not made by NewEndpoint", ErrInvalidBackend, i)
		}
		if err := checkID(seen, e.ID, i); err != nil {
			return err
		}
	}
	return nil
}

func checkID(seen map[string]int, id string, i int) error {
	if id == "" {
		return fmt.Errorf("%w: backend %d has an empty ID", ErrInvalidBackend, i)
	}
	if j, dup := seen[id]; dup {
		return fmt.Errorf("%w: backend %d has the same ID %q as backend %d", ErrInvalidBackend, i, id, j)
	}
	seen[id] = i
	return nil
}
