// Package sim is a deterministic discrete-event simulator that replays
// Kubernetes pod churn against lbkit's real load-balancing algorithms and
// measures what each does: how evenly it spreads requests and requests in
// flight, how many keys and live sessions it remaps when pods change
// (against the least any algorithm must move), how often independent
// proxies disagree, request latency, failed requests, and what a pick
// costs.
//
// # The model
//
// A Scenario describes:
//
//   - pods: a Deployment of Replicas pods, each with a number of workers
//     and a FIFO queue (optionally bounded), a service-time distribution
//     (exponential, constant, lognormal, Pareto), a speed factor (slow
//     nodes), an optional warm-up, a zone, a readiness delay, a preStop
//     and a termination grace period;
//   - workload: Poisson arrivals at a rate that may step over time, keys
//     uniform or Zipf over a key space, optionally grouped into sessions
//     that send several requests under one key with think time between;
//   - proxies: independent load balancers, each with its own
//     balancer.Balancer running the algorithm under test, each learning of
//     every endpoint change after its own propagation delay, optionally
//     retrying a failed request with balancer.Request.Attempt one higher;
//   - churn with Kubernetes semantics: a rolling update within maxSurge and
//     maxUnavailable, scaling in steps, random crashes with restarts, a
//     zone drain, or the replay of a recorded trace (package sim/trace).
//
// A deleted pod leaves the endpoint set at once, keeps taking requests
// through its preStop, then finishes what it holds and exits, or is killed
// when its grace period ends. A request routed to a pod that is gone or
// stopping fails and is counted, as is a request in flight when its pod
// crashes or is killed, and one rejected by a full queue.
//
// # Determinism
//
// A run is single-threaded, reads no clock and starts no goroutine: the
// virtual clock advances from event to event of a binary heap, ties broken
// by scheduling order, and every random draw comes from one generator
// seeded by Scenario.Seed. The library's pickers get seeded sources and
// the virtual time (balancer.Request.Now, balancer.DoneInfo.Now). The same
// scenario and seed give byte-identical results, except
// Result.PickNanos, which is measured with the wall clock when
// Options.PickCost asks for it and never feeds back into the model.
//
// # Validation
//
// The tests check the simulator against queueing theory: random routing
// over pods of one worker with exponential service reproduces the M/M/1
// mean and tail, power of d choices reproduces Mitzenmacher's supermarket
// fixed point, and the disruption the simulator reports for the hash
// pickers equals what their own tables give.
//
// # Cost
//
// About a million simulated requests a second on one core (BenchmarkSim:
// 100 pods, power of two choices), in memory bounded by the pods, windows
// and endpoint updates, whatever the number of requests.
package sim
