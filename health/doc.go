// Package health decides which endpoints of a balancer.Balancer should get
// traffic. It gives active checks (a Probe run against every endpoint on a
// schedule, with HAProxy's rise and fall thresholds), passive outlier
// detection (ejecting an endpoint whose real requests fail), a panic
// threshold (balancing across every endpoint when too few are healthy) and
// slow start (ramping a new endpoint's weight up).
//
// The probes (HTTPProbe, TCPProbe, ProbeFunc) send real traffic. The
// schedule and the up/down state machine behind ActiveConfig read no clock
// and start no goroutine: they take the time as an argument, so the
// simulator can drive them on a virtual clock.
package health
