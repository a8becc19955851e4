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
//     retrying a failed request with balancer.Request.Attempt one higher,
//     optionally giving up on a request after a timeout;
//   - churn with Kubernetes semantics: a rolling update within maxSurge and
//     maxUnavailable, scaling in steps, random crashes with restarts, a
//     zone drain, or the replay of a recorded trace (package sim/trace);
//     and pod faults that Kubernetes does not notice: pods that stay ready
//     while they fail every request fast or hang on it, at set times
//     (Churn.Fault) or at random with recovery (Churn.Faults).
//
// A deleted pod leaves the endpoint set at once, keeps taking requests
// through its preStop, then finishes what it holds and exits, or is killed
// when its grace period ends. A request routed to a pod that is gone or
// stopping fails and is counted, as is a request in flight when its pod
// crashes or is killed, and one rejected by a full queue. A failing pod
// answers each request with an error after its fail latency
// (balancer.UpstreamFailure), without taking a worker; a hung pod holds
// each until the proxy's timeout fails it (balancer.GatewayFailure), the
// pod dies, or the drain ends. An error answer is not retried, nor is a
// timeout; a refused, rejected or killed request is, when Proxies.Retries
// says so. Result.ToFaulty counts the requests sent to a faulty pod.
//
// # Health
//
// With Proxies.HealthCheck, OutlierDetection, PanicThreshold or SlowStart
// set (Envoy's names), each proxy runs the health package's Monitor on
// its Balancer, on the virtual clock: the run plays each active check
// against the pod's state (refused by a pod that is gone or not serving,
// failed by a faulty one, passed by the others), and feeds outlier
// detection the Dones it already makes. Result.Health counts the probes,
// ejections and panics, and the time from a pod going bad (a fault, a
// crash) to each proxy taking it out; Disruption counts the keys that
// health transitions remap too. Compare runs each algorithm a second
// time without the features on the same seeds, "<name> (no health)", so
// that their effect is measured pair by pair (Options.NoBaseline leaves
// that out).
//
// # Affinity and zones
//
// Proxies.SessionAffinity runs the affinity package's session tables:
// ClientIP keeps an affinity.Sticky on each proxy, keyed by the session's
// key (its client), and sends a session's requests through the proxy of
// its first, as a client on a node always goes through that node's
// kube-proxy; Cookie gives each session an affinity.Cookies cookie naming
// its pod, which every proxy honours. Proxies.Zones places the proxies,
// a session's client in the zone of its first proxy, and
// Proxies.CrossZoneLatency charges a request that leaves its zone;
// TrafficDistribution PreferClose and ZoneAwareRouting wrap each
// proxy's algorithm in affinity.Zones. Result.SessionsBroken counts the
// session requests served by another pod than the one before, and
// Result.SessionsForced those whose pod had left, crashed or was faulty,
// the optimum; Result.CrossZone the share of requests that crossed. The
// baselines run without these features too ("(no affinity)", "(no zone
// routing)").
//
// # Accounting
//
// Arrivals, sessions and churn stop at Scenario.Duration; the pods go on
// serving what they hold for at most Scenario.Drain. Every request then
// has succeeded, failed or is unfinished (Result.Unfinished), and the
// failure rate counts the unfinished ones. Latency percentiles cover the
// requests that succeeded, those that timed out (at the timeout), and
// those unfinished, counted at their age: a percentile that an unfinished
// request reaches is only a lower bound, and Latency.AtLeast says so. Each
// window records the load the workload offered against the nominal
// capacity of the endpoint set, so a report can say when a scenario is
// overloaded whatever the algorithm.
//
// # Replications and confidence
//
// Compare runs every algorithm Options.Runs times, replication k on seed
// ReplicationSeed(Scenario.Seed, k), in parallel, and summarises each
// figure as a mean with a 95% confidence interval (Student's t). The
// run's randomness comes in independent streams (the workload, the
// cluster, its faults, each request's own draws, the metrics' samples),
// so all the algorithms of a replication see the same arrivals, keys,
// service demands, churn and pod faults: common random numbers.
// Differences are then tested pair by pair, and the summary marks the
// best figure of each metric and those a paired t-test cannot tell from
// it.
//
// # Bounded work
//
// Before it runs, Compare estimates the work (EstimateWork: requests,
// endpoint updates with the algorithms' measured build cost, crashes,
// faults, scale steps, trace events) and refuses, with ErrTooBig and a
// message that says what is big, a run above Options.MaxWork or one whose
// queues, or hung pods, would hold tens of millions of requests.
//
// # Traces
//
// ReadTrace reads a recorded trace once, checks and summarises it, and
// keeps it as compact records in a temporary file; every run streams it
// again, one instant at a time, so a month of churn replays in memory
// that does not grow with its length. Workload.RatePerEndpoint makes the
// offered rate follow the endpoint set, as recorded traffic follows an
// autoscaled Deployment, and Scenario.TraceSpeed plays a trace faster.
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
// Options.PickCost asks for it, on a copy of a proxy's picker with its own
// random source, and never feeds back into the model.
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
// About 3 million simulated requests a second on one core
// (BenchmarkSim: 100 pods, power of two choices, no churn), in memory
// bounded by the pods alive, the windows and the endpoint updates in
// flight, whatever the number of requests or the length of a trace.
package sim
