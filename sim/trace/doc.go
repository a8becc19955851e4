// Package trace reads and writes churn traces for lbkit's discrete-event
// simulator: time-ordered lists of endpoint changes (add, ready, unready,
// remove) that the simulator replays against its proxies. A trace comes
// from a hand-written CSV file or from a recording of a Service's
// EndpointSlices made with kubectl.
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
// time: recorded traces often show a pod only once it is ready. ReadCSV
// returns such a line as two events, an add and a ready, so the events it
// returns are explicit and pass Validate. Any other event out of order for
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
// diffs the union of the service's slices against the previous union,
// emitting add, ready, unready and remove events in endpoint order. A List
// counts as one update and is a snapshot: slices known before that are not
// in it are dropped, so a series of "kubectl get -o json" snapshots reads
// as a trace too.
//
//   - The service is SliceOptions.Service, matched against the
//     kubernetes.io/service-name label as "name" or "namespace/name". When it
//     is empty the stream must hold a single service; otherwise
//     ReadEndpointSlices returns ErrService listing the services it saw.
//   - An endpoint's ID is its first address and the port named
//     SliceOptions.Port (the slice's first port when that is empty), joined
//     as "10.0.1.7:8080" or "[fd00::7]:8080". A slice without ports gives
//     bare addresses. Its zone is endpoints[].zone. Weights are zero: slices
//     carry none.
//   - An endpoint is ready when its ready condition is true or absent (the
//     API says a nil ready condition is an unknown state that consumers
//     should treat as ready), its serving condition is not false, and it is
//     not terminating. So a terminating endpoint turns unready, and is
//     removed when it leaves the slice. An address listed in two slices at
//     once (while it moves between them) is one endpoint, ready if either
//     slice says so.
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
// complete values before the cut come back with the error, so a recording
// stopped mid-write is still usable. An object that is not an EndpointSlice
// fails with ErrSyntax naming its kind.
//
// Read takes either format and tells them apart by the first non-blank
// byte: '{' or '[' starts an EndpointSlice stream, anything else is CSV.
package trace
