// Package config is the serialisable form of lbkit's algorithm
// configurations: one Algorithm value, read from JSON or YAML (or a bare
// name), that becomes any algorithm package's Config.
//
// Programs that take their load-balancing policy from a file or a flag
// read it here instead of keeping their own list of names: lbsim's
// scenarios, the HTTP proxy example's -algorithm flag, the gRPC balancer's
// service config and the benchmark harness all accept the same names and
// fields.
//
//	{"algorithm": "least-request", "choices": 3}
//	{"algorithm": "ring-hash", "compat": "grpc", "minRingSize": 4096}
//	"maglev"
//
// Decoding is strict: an unknown field, a field that does not apply to the
// algorithm, or a value the algorithm rejects is an error wrapping
// ErrConfig that names it. Durations are Go duration strings ("10s",
// "250ms").
//
// Names are an algorithm (round-robin, random, least-request, peak-ewma,
// ring-hash, maglev) or a preset that fixes some of its fields
// (least-request-3, least-request-full, ring-hash-envoy, ring-hash-grpc,
// ring-hash-bounded, maglev-bounded). Names returns them all.
package config
