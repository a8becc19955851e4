// Package trace reads and writes churn traces for lbkit's discrete-event
// simulator: time-ordered lists of endpoint changes (add, ready, unready,
// remove) that the simulator replays against its proxies. A trace comes
// from a hand-written CSV file or from a recording of a Service's
// EndpointSlices made with kubectl. A Reader reads either an event at a
// time, in memory that does not grow with the length of the trace; Read,
// ReadCSV and ReadEndpointSlices collect its events into a slice.
//
// An endpoint's life is: add (known, not ready), ready, then unready and
// ready alternating, and finally remove, after which the same ID may be
// added again. A ready endpoint may be removed directly. Validate checks
// this for every endpoint; both readers only ever return traces that pass
// it. Endpoint is the balancer.Backend ID: the string hash pickers hash, so
// it must be the same however the trace was made ("10.0.1.7:8080",
// "[fd00::7]:8080").
//
// # CSV
//
// One event a line, columns separated by commas:
//
//	time,event,endpoint[,weight][,zone]
//
// A header line naming the columns may come first. Lines that are blank or
// whose first non-blank character is '#' are skipped. Spaces around a field
// are ignored; a field cannot be quoted, so it cannot hold a comma.
//
//   - time is a Go duration ("1.5s", "250ms", "2m") or plain decimal seconds
//     ("12.25"), since the start of the trace. It must not be negative,
//     and must not go backwards from one line to the next.
//   - event is add, ready, unready or remove.
//   - endpoint is the endpoint's ID; it cannot be empty or hold spaces.
//   - weight is a uint32; empty or 0 means unchanged (default for an add).
//   - zone is the endpoint's topology zone; empty means unknown.
//
// A ready line for an endpoint that is not known implies an add at the same
// time: recorded traces often show a pod only once it is ready. The
// readers return such a line as two events, an add and a ready, so the
// events they return are explicit and pass Validate. Any other event out of order for
// its endpoint (ready twice, unready when not ready, remove of an unknown
// endpoint) is an error. For example, a rolling update of one pod:
//
//	time,event,endpoint,weight,zone
//	# the old pod, ready from the start
//	0,ready,10.0.1.7:8080,,zone-a
//	# the new pod starts; its readiness probe passes 10s later
//	1.5s,add,10.0.2.9:8080,,zone-b
//	11.5,ready,10.0.2.9:8080
//	# the old pod terminates: out of rotation at once, gone after 30s
//	12s,unready,10.0.1.7:8080
//	42s,remove,10.0.1.7:8080
//
// Errors name the line: "trace: line 7: unknown event \"raedy\" (want add,
// ready, unready or remove)". A last line without a newline is fine; a
// line cut short inside its event ("1.5s,rea") fails as an unknown event.
// WriteCSV writes this format (header first, times in decimal seconds) and
// round-trips with ReadCSV.
//
// # EndpointSlices
//
// ReadEndpointSlices reads what
//
//	kubectl get endpointslices -l kubernetes.io/service-name=web -w -o json
//
// prints: a stream of concatenated, pretty-printed JSON values (not an
// array). It also takes the stream of --output-watch-events, where each
// value is wrapped as {"type": "ADDED|MODIFIED|DELETED", "object": {...}}
// (BOOKMARK events are skipped), a List or EndpointSliceList of the initial
// state, and a JSON array of any of these.
//
// The reader keeps the latest state of every slice (by namespace and
// metadata.name; a DELETED event drops the slice) and after each value
// emits the changes it made to the union of the service's slices: add,
// ready, unready and remove events, in endpoint order. A List counts as
// one update and is a snapshot: slices known before that are not in it are
// dropped, so a series of "kubectl get -o json" snapshots reads as a trace
// too.
//
// The union is kept per endpoint: for each endpoint, the slices that list
// it and what each says. An update recomputes the endpoints that the slices
// it changes list, before or after, and no others, so it costs time in
// proportion to those slices (a List, to its size and the slices it drops),
// not to the whole service.
//
//   - The service is SliceOptions.Service, matched against the
//     kubernetes.io/service-name label as "name" or "namespace/name". When it
//     is empty the stream must hold a single service: a slice of a second
//     one fails with ErrService, listing the services seen. So does a slice
//     of a second service the name matches (in another namespace), and
//     the end of a stream that holds slices of other services only.
//   - An endpoint's ID is its first address and the port named
//     SliceOptions.Port (the slice's first port when that is empty), joined
//     as "10.0.1.7:8080" or "[fd00::7]:8080". A slice without ports gives
//     bare addresses. Its zone is endpoints[].zone. Weights are zero: slices
//     carry none.
//   - An endpoint is ready when its ready condition is true or absent (the
//     API says a nil ready condition is an unknown state that consumers
//     should treat as ready), its serving condition is not false, and it is
//     not terminating. So a terminating endpoint turns unready, and is
//     removed when it leaves the slice.
//   - An address listed in two slices at once (while it moves between
//     them) is one endpoint, ready if either slice says so. Its zone is the
//     first non-empty zone, in the order of the slices' namespace/name,
//     among the slices that agree with that readiness. A slice that lists
//     an address twice counts its first ready listing, or else its last. A
//     change of zone alone is no event; a remove carries the zone last
//     merged.
//   - The time of an update is its slice's
//     endpoints.kubernetes.io/last-change-trigger-time annotation (RFC 3339;
//     for a List, the latest of its items), relative to the first annotation
//     in the stream. An update without the annotation comes
//     SliceOptions.Interval (default 1s) after the previous update. A time
//     earlier than the previous update's is clamped to it: the annotation
//     is per slice, and slices update independently, so a slice that
//     changes now may carry the trigger time of a change that happened
//     before another slice's last update (a DELETED slice carries the time
//     of its last change, not of its deletion). Clamping keeps the
//     stream's order, which is the order a watcher saw. The first values of
//     a recording carry the time their slices last changed, which may be
//     long before the recording began: the trace then starts with a quiet
//     stretch of that length.
//
// A stream cut inside a JSON value fails with ErrTruncated, naming the line
// and byte where it ends and the value it was in; the events of the
// complete values before the cut come first (ReadEndpointSlices returns
// them with the error), so a recording stopped mid-write is still usable.
// An object that is not an EndpointSlice fails with ErrSyntax naming its
// kind.
//
// Read takes either format and tells them apart by the first non-blank
// byte: '{' or '[' starts an EndpointSlice stream, anything else is CSV.
//
// # Streaming
//
// NewReader returns a Reader of either format (NewCSVReader and
// NewSliceReader, of one), whose Next returns the next event, or io.EOF
// after the last. It holds the state it needs to check and merge the next
// event and no more: the phase of each live endpoint (CSV), or the slices
// and endpoints of the service and the JSON value being read
// (EndpointSlices). A CSV file is read a line at a time. An EndpointSlice
// stream is read a JSON value at a time: a strict parser reads the values
// kubectl prints in one pass without allocating, at some hundreds of MB/s,
// and leaves anything unusual (escapes, repeated keys, a field of the wrong
// type, any error) to encoding/json.
//
// Read, ReadCSV and ReadEndpointSlices collect a Reader's events; reading
// with a Reader differs from them in two ways, both of necessity:
//
//   - On an error, the events before it have already been returned. The
//     collecting functions return none with the error (ReadEndpointSlices
//     returns the events before an ErrTruncated).
//   - The services of an EndpointSlice stream are checked as they appear,
//     not at its end (by ReadEndpointSlices too), so a stream of several
//     services (with no SliceOptions.Service) fails when the second
//     appears, listing the services seen so far, and an error later in the
//     stream is not reached. A stream without the chosen service fails at
//     its end.
//
// After any error but io.EOF, Next keeps returning it.
package trace
