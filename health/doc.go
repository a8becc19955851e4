// Package health decides which endpoints of a balancer.Balancer get
// traffic, and how much: active checks, passive outlier detection, a panic
// threshold and slow start, for every algorithm.
//
// A Monitor attaches to a Balancer as its Gate (see balancer.Gate):
//
//	discovery ── Balancer.Update ── Monitor.Admit ── Builder.Build ── Pick
//	                                   ▲
//	   active checks, outlier detection, slow start, panic threshold
//
// Health lives on the shared *balancer.Endpoint, beside its load counters,
// so it survives Updates. Every transition (an endpoint down or up, ejected
// or back, a slow-start step, panic) rebuilds the Picker off the pick path
// and publishes it atomically, as an Update does: Pick stays lock-free and
// allocation-free and never blocks. Outlier detection is fed by
// Result.Done: say how a request failed with balancer.DoneInfo.Failure
// (an UpstreamFailure is a 5xx answer, a GatewayFailure no answer at all),
// and a Done that completes a run of failures long enough ejects its
// endpoint at once.
//
// # The features
//
// Active checks (ActiveConfig) probe every endpoint every Interval with a
// Probe (HTTPProbe, TCPProbe, or any ProbeFunc), spread over the interval
// rather than all at once, with HAProxy's defaults: every 2 s, up after 2
// passes ("rise"), down after 3 failures ("fall"). A new endpoint starts
// healthy, because Kubernetes lists a pod in its EndpointSlice only once
// its readiness probe has passed; ActiveConfig.StartUnhealthy says
// otherwise for discovery that checks nothing.
//
// Outlier detection (OutlierDetection) is Envoy's, with Envoy's defaults:
// 5 consecutive failures eject; every 10 s, success-rate outliers (below
// the mean by 1.9 standard deviations, among at least 5 endpoints of 100
// requests) are ejected too, and failure-percentage ones when asked; an
// ejection lasts 30 s times the number of ejections, at most 300 s; at
// most 10% of the endpoints are ejected at once, but one always may be.
//
// The panic threshold (Config.PanicThreshold, Envoy's 50% by default) picks
// among every endpoint, healthy or not, when fewer than that share are
// healthy: better to spread the load over all than to crush the few left.
//
// Slow start (SlowStart) ramps up an endpoint that joins or turns healthy
// again over a window, with Envoy's formula, for round robin, random and
// least request. For ring hash and Maglev, which no proxy ramps up, the
// newcomer takes a growing share of its own keys in the final table while
// every other key stays where it would be without it (see
// Monitor.BuildPicker).
//
// # Time
//
// Nothing reads the clock but Start. Advance, DueChecks and CheckResult
// take the time, so the simulator runs the same code on a virtual clock;
// Start runs them on the real one, with a goroutine per check in progress,
// and Close (or cancelling its context) stops them all.
package health
