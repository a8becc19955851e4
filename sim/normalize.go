package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// FieldError is a scenario error about one field. Path names the field as
// it is written in a scenario file ("workload.rate", "churn[2].scale").
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return "sim: invalid scenario: " + e.Path + ": " + e.Msg }

// Unwrap makes a FieldError match ErrScenario.
func (e *FieldError) Unwrap() error { return ErrScenario }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Limits that keep a run's memory and time sane whatever a file says.
const (
	maxPods    = 100_000
	maxProxies = 1_000
	maxWorkers = 100_000
	maxRate    = 1e8
	maxKeys    = 1 << 40
	maxWindows = 100_000
)

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }

// prepare readies a scenario to run, and returns the algorithms to run:
// those of opts when it names any, else the scenario's. Its trace must be
// loaded, and normalize must accept it.
func (s *Scenario) prepare(opts Options) ([]Algorithm, error) {
	if s.Trace != "" && !s.replays() {
		return nil, fieldErr("trace", "%q is not loaded: LoadScenario reads it, or set TraceFile", s.Trace)
	}
	if err := s.normalize(); err != nil {
		return nil, err
	}
	if len(opts.Algorithms) > 0 {
		for i, a := range opts.Algorithms {
			if a.Name == "" || a.New == nil {
				return nil, fmt.Errorf("sim: Options.Algorithms[%d] needs a Name and a New", i)
			}
			for _, b := range opts.Algorithms[:i] {
				if a.Name == b.Name {
					return nil, fmt.Errorf("sim: algorithm %q is named twice", a.Name)
				}
			}
		}
		return opts.Algorithms, nil
	}
	return s.algs, nil
}

// normalize applies the documented defaults and validates the scenario. A
// scenario that names a trace is checked as the replay it will be, loaded
// or not.
func (s *Scenario) normalize() error {
	if s.Duration <= 0 {
		return fieldErr("duration", "must be positive, e.g. 60s")
	}
	if s.Window == 0 {
		s.Window = Duration(max(s.Duration.Std()/60/time.Millisecond*time.Millisecond, 100*time.Millisecond))
	}
	if s.Window < Duration(time.Millisecond) || s.Duration.Std()/s.Window.Std() > maxWindows {
		return fieldErr("window", "%v gives more than %d windows over %v", s.Window, maxWindows, s.Duration)
	}
	if s.Drain == 0 {
		s.Drain = Duration(30 * time.Second)
	}
	if s.Drain > Duration(time.Hour) {
		return fieldErr("drain", "%v is more than an hour", s.Drain)
	}
	algs, err := configAlgorithms(s.Algorithms)
	if err != nil {
		return fieldErr("algorithms", "%v", strings.TrimPrefix(err.Error(), "sim: "))
	}
	s.algs = algs

	d := &s.Deployment
	if d.Replicas < 0 || d.Replicas > maxPods {
		return fieldErr("deployment.replicas", "must be between 1 and %d, got %d", maxPods, d.Replicas)
	}
	replay := s.replays() || s.Trace != ""
	if d.Replicas == 0 && !replay {
		return fieldErr("deployment.replicas", "must be at least 1 (zero pods serve nothing)")
	}
	if len(d.Zones) == 0 {
		d.Zones = []string{"zone-a"}
	}
	for i, z := range d.Zones {
		if strings.TrimSpace(z) == "" {
			return fieldErr(fmt.Sprintf("deployment.zones[%d]", i), "zone names must be non-empty")
		}
	}
	for _, f := range []struct {
		v    IntOrPercent
		path string
	}{{d.Strategy.RollingUpdate.MaxSurge, "maxSurge"}, {d.Strategy.RollingUpdate.MaxUnavailable, "maxUnavailable"}} {
		if _, err := f.v.resolve(max(d.Replicas, 1), true, "25%"); err != nil {
			return fieldErr("deployment.strategy.rollingUpdate."+f.path, "%v", err)
		}
	}
	ru := d.Strategy.RollingUpdate
	if su, _ := ru.MaxSurge.resolve(d.Replicas, true, "25%"); su == 0 && !replay {
		if un, _ := ru.MaxUnavailable.resolve(d.Replicas, false, "25%"); un == 0 {
			return fieldErr("deployment.strategy.rollingUpdate", "maxSurge and maxUnavailable cannot both be 0 (Kubernetes rejects it: the rollout could never progress)")
		}
	}
	if err := s.normalizeTemplate(); err != nil {
		return err
	}

	if s.TraceSpeed == 0 {
		s.TraceSpeed = 1
	}
	if bad(s.TraceSpeed) || s.TraceSpeed < 1e-3 || s.TraceSpeed > 1e9 {
		return fieldErr("traceSpeed", "must be between 0.001 and 1e9, got %v", s.TraceSpeed)
	}
	w := &s.Workload
	switch {
	case w.RatePerEndpoint != 0:
		if bad(w.RatePerEndpoint) || w.RatePerEndpoint < 0 || w.RatePerEndpoint > maxRate/maxPods {
			return fieldErr("workload.ratePerEndpoint", "must be a positive number of requests a second up to %g, got %v", maxRate/maxPods, w.RatePerEndpoint)
		}
		if w.Rate != 0 || len(w.Steps) > 0 {
			return fieldErr("workload.ratePerEndpoint", "replaces rate and steps: set one or the other")
		}
	case bad(w.Rate) || w.Rate <= 0 || w.Rate > maxRate:
		return fieldErr("workload.rate", "must be a positive number of requests a second up to %g, got %v", maxRate, w.Rate)
	}
	for i, st := range w.Steps {
		p := fmt.Sprintf("workload.steps[%d]", i)
		if bad(st.Rate) || st.Rate < 0 || st.Rate > maxRate {
			return fieldErr(p+".rate", "must be between 0 and %g, got %v", maxRate, st.Rate)
		}
		if i > 0 && st.At < w.Steps[i-1].At {
			return fieldErr(p+".at", "steps must be in time order (%v comes after %v)", st.At, w.Steps[i-1].At)
		}
	}
	if n := w.expected(s.Duration.Std(), s.meanEndpoints()); n < 1 && (!replay || s.replays()) {
		return fieldErr("workload", "starts %.3g arrivals on average in %v (%s, sessions of %g requests): the run would offer almost nothing; raise the rate, shorten the sessions or lengthen the run",
			n, s.Duration, rateText(w), max(w.Sessions.Requests, 1))
	}
	if w.Keys.Count == 0 {
		w.Keys.Count = 100_000
	}
	if w.Keys.Count < 1 || w.Keys.Count > maxKeys {
		return fieldErr("workload.keys.count", "must be between 1 and %d, got %d", int64(maxKeys), w.Keys.Count)
	}
	switch strings.ToLower(w.Keys.Distribution) {
	case "", "uniform":
	case "zipf":
		if w.Keys.Exponent == 0 {
			w.Keys.Exponent = 1.1
		}
		if bad(w.Keys.Exponent) || w.Keys.Exponent <= 1 || w.Keys.Exponent > 100 {
			return fieldErr("workload.keys.exponent", "must be above 1 (and at most 100), got %v", w.Keys.Exponent)
		}
		if w.Keys.Count < 2 {
			return fieldErr("workload.keys.count", "a zipf key space needs at least 2 keys")
		}
	default:
		return fieldErr("workload.keys.distribution", "%q is not uniform or zipf", w.Keys.Distribution)
	}
	if bad(w.Sessions.Requests) || w.Sessions.Requests < 0 || w.Sessions.Requests > 1e6 {
		return fieldErr("workload.sessions.requests", "must be between 0 and 1e6, got %v", w.Sessions.Requests)
	}
	if w.Sessions.ThinkTime == (Dist{}) {
		w.Sessions.ThinkTime = Exp(time.Second)
	}
	if err := w.Sessions.ThinkTime.validate("workload.sessions.thinkTime"); err != nil {
		return err
	}

	px := &s.Proxies
	if px.Replicas == 0 {
		px.Replicas = 1
	}
	if px.Replicas < 1 || px.Replicas > maxProxies {
		return fieldErr("proxies.replicas", "must be between 1 and %d, got %d", maxProxies, px.Replicas)
	}
	if px.Retries < 0 || px.Retries > 10 {
		return fieldErr("proxies.retries", "must be between 0 and 10, got %d", px.Retries)
	}
	if err := px.PropagationDelay.validate("proxies.propagationDelay"); err != nil {
		return err
	}
	if px.Timeout < 0 || px.Timeout > Duration(24*time.Hour) {
		return fieldErr("proxies.timeout", "must be between 0 (none) and 24h, got %v", px.Timeout)
	}
	for i, z := range px.Zones {
		if strings.TrimSpace(z) == "" {
			return fieldErr(fmt.Sprintf("proxies.zones[%d]", i), "is empty")
		}
	}
	if px.CrossZoneLatency < 0 || px.CrossZoneLatency > Duration(10*time.Second) {
		return fieldErr("proxies.crossZoneLatency", "must be between 0 and 10s, got %v", px.CrossZoneLatency)
	}
	if err := px.normalizeZones(); err != nil {
		return err
	}
	if a := px.SessionAffinity; a != nil {
		if a.Type != AffinityClientIP && a.Type != AffinityCookie {
			return fieldErr("proxies.sessionAffinity.type", "%q is not %s or %s", a.Type, AffinityClientIP, AffinityCookie)
		}
		if a.TimeoutSeconds == 0 {
			a.TimeoutSeconds = 10800
		}
		if a.TimeoutSeconds < 1 || a.TimeoutSeconds > 86400 {
			return fieldErr("proxies.sessionAffinity.timeoutSeconds", "must be between 1 and 86400, got %d", a.TimeoutSeconds)
		}
	}
	hc, err := px.healthConfig()
	if err != nil {
		return err
	}
	s.health = hc
	return s.normalizeChurn()
}

// normalizeZones checks the proxies' zone routing.
func (px *Proxies) normalizeZones() error {
	switch px.TrafficDistribution {
	case "":
	case "PreferClose", "PreferSameZone":
		if len(px.Zones) == 0 {
			return fieldErr("proxies.trafficDistribution", "%s needs proxies.zones", px.TrafficDistribution)
		}
	default:
		return fieldErr("proxies.trafficDistribution", "%q is not PreferClose or PreferSameZone", px.TrafficDistribution)
	}
	if z := px.ZoneAwareRouting; z != nil {
		if len(px.Zones) == 0 {
			return fieldErr("proxies.zoneAwareRouting", "needs proxies.zones")
		}
		if px.TrafficDistribution != "" {
			return fieldErr("proxies.zoneAwareRouting", "is Envoy's way and trafficDistribution Kubernetes': choose one")
		}
		if z.MinClusterSize == 0 {
			z.MinClusterSize = 6
		}
		if z.MinClusterSize < 1 || z.MinClusterSize > 1_000_000 {
			return fieldErr("proxies.zoneAwareRouting.minClusterSize", "must be between 1 and 1e6, got %d", z.MinClusterSize)
		}
	}
	return nil
}

// meanEndpoints estimates the mean size of the endpoint set: the
// replicas, or a trace's time-weighted ready count.
func (s *Scenario) meanEndpoints() float64 {
	if info, ok := s.traceInfo(); ok {
		return info.MeanReady
	}
	return float64(s.Deployment.Replicas)
}

// replays reports whether the scenario has a trace to replay.
func (s *Scenario) replays() bool { return s.TraceFile != nil || len(s.TraceEvents) > 0 }

// traceInfo summarises the trace the scenario replays, if any.
func (s *Scenario) traceInfo() (TraceInfo, bool) {
	switch {
	case s.TraceFile != nil:
		return s.TraceFile.Info(), true
	case len(s.TraceEvents) > 0:
		var st traceSummer
		for _, ev := range s.TraceEvents {
			st.add(ev)
		}
		return st.done(), true
	}
	return TraceInfo{}, false
}

// traceSource opens a stream of the trace's events, or returns nil.
func (s *Scenario) traceSource() EventSource {
	switch {
	case s.TraceFile != nil:
		return s.TraceFile.events()
	case len(s.TraceEvents) > 0:
		return &sliceSource{events: s.TraceEvents}
	}
	return nil
}

// integral returns the requests the rate and its steps offer from a to b
// (RatePerEndpoint aside).
func (w *Workload) integral(a, b time.Duration) float64 {
	var n float64
	at, rate := time.Duration(0), w.Rate
	for _, st := range w.Steps {
		if next := st.At.Std(); next > at {
			lo, hi := max(at, a), min(next, b)
			if hi > lo {
				n += rate * (hi - lo).Seconds()
			}
			at = next
		}
		rate = st.Rate
	}
	if lo := max(at, a); b > lo {
		n += rate * (b - lo).Seconds()
	}
	return n
}

// expected returns the mean number of arrivals (lone requests or
// sessions) the workload starts in d, rate steps included, with
// endpoints in the set on average.
func (w *Workload) expected(d time.Duration, endpoints float64) float64 {
	perArrival := max(w.Sessions.Requests, 1)
	if w.RatePerEndpoint > 0 {
		return w.RatePerEndpoint * endpoints * d.Seconds() / perArrival
	}
	return w.integral(0, d) / perArrival
}

func (s *Scenario) normalizeTemplate() error {
	t := &s.Deployment.Template
	const p = "deployment.template"
	if t.Workers == 0 {
		t.Workers = 1
	}
	if t.Workers < 1 || t.Workers > maxWorkers {
		return fieldErr(p+".workers", "must be between 1 and %d, got %d", maxWorkers, t.Workers)
	}
	if t.QueueLimit < 0 {
		return fieldErr(p+".queueLimit", "must not be negative (0 means unbounded)")
	}
	if t.ServiceTime == (Dist{}) {
		t.ServiceTime = Exp(10 * time.Millisecond)
	}
	if err := t.ServiceTime.validate(p + ".serviceTime"); err != nil {
		return err
	}
	if t.ServiceTime.Mean == 0 {
		return fieldErr(p+".serviceTime.mean", "must be positive")
	}
	if t.Weight == 0 {
		t.Weight = 1
	}
	if bad(t.SlowFraction) || t.SlowFraction < 0 || t.SlowFraction > 1 {
		return fieldErr(p+".slowFraction", "must be between 0 and 1, got %v", t.SlowFraction)
	}
	if t.SlowSpeed == 0 {
		t.SlowSpeed = 0.5
	}
	if bad(t.SlowSpeed) || t.SlowSpeed < 0.001 || t.SlowSpeed > 1000 {
		return fieldErr(p+".slowSpeed", "must be in (0, 1000], got %v", t.SlowSpeed)
	}
	if t.WarmupSpeed == 0 {
		t.WarmupSpeed = 0.5
	}
	if bad(t.WarmupSpeed) || t.WarmupSpeed < 0.001 || t.WarmupSpeed > 1000 {
		return fieldErr(p+".warmupSpeed", "must be in (0, 1000], got %v", t.WarmupSpeed)
	}
	if t.ReadinessDelay == (Dist{}) {
		t.ReadinessDelay = Const(5 * time.Second)
	}
	if err := t.ReadinessDelay.validate(p + ".readinessDelay"); err != nil {
		return err
	}
	if t.TerminationGracePeriod == 0 {
		t.TerminationGracePeriod = Duration(30 * time.Second)
	}
	if t.PreStop > t.TerminationGracePeriod {
		return fieldErr(p+".preStop", "%v is longer than the termination grace period %v", t.PreStop, t.TerminationGracePeriod)
	}
	return nil
}

func (s *Scenario) normalizeChurn() error {
	replicas := s.Deployment.Replicas // in force at each action, for fault counts
	for i := range s.Churn {
		c := &s.Churn[i]
		p := fmt.Sprintf("churn[%d]", i)
		if i > 0 && c.At < s.Churn[i-1].At {
			return fieldErr(p+".at", "churn must be in time order (%v comes after %v)", c.At, s.Churn[i-1].At)
		}
		set := 0
		for _, b := range []bool{c.RollingUpdate != nil, c.Scale != nil, c.Crashes != nil, c.DrainZone != nil, c.Fault != nil, c.Faults != nil} {
			if b {
				set++
			}
		}
		if set != 1 {
			return fieldErr(p, "needs exactly one of rollingUpdate, scale, crashes, drainZone, fault, faults (has %d)", set)
		}
		switch {
		case c.RollingUpdate != nil:
			if st := c.RollingUpdate.ServiceTime; st != (Dist{}) {
				if err := st.validate(p + ".rollingUpdate.serviceTime"); err != nil {
					return err
				}
			}
		case c.Scale != nil:
			sc := c.Scale
			if sc.Replicas < 1 || sc.Replicas > maxPods {
				return fieldErr(p+".scale.replicas", "must be between 1 and %d, got %d", maxPods, sc.Replicas)
			}
			if sc.Step < 0 {
				return fieldErr(p+".scale.step", "must not be negative")
			}
			if sc.Interval == 0 {
				sc.Interval = Duration(10 * time.Second)
			}
			replicas = sc.Replicas
		case c.Crashes != nil:
			cr := c.Crashes
			if cr.MTBF <= 0 {
				return fieldErr(p+".crashes.mtbf", "must be positive, e.g. 10m")
			}
			if cr.RestartDelay == 0 {
				cr.RestartDelay = Duration(10 * time.Second)
			}
			if cr.DetectionDelay == 0 {
				cr.DetectionDelay = Duration(30 * time.Second)
			}
		case c.DrainZone != nil:
			if !slices.Contains(s.Deployment.Zones, c.DrainZone.Zone) {
				return fieldErr(p+".drainZone.zone", "%q is not one of the deployment's zones %v", c.DrainZone.Zone, s.Deployment.Zones)
			}
			if len(s.Deployment.Zones) < 2 {
				return fieldErr(p+".drainZone.zone", "draining the only zone leaves nowhere to run")
			}
		case c.Fault != nil:
			f := c.Fault
			p += ".fault"
			if err := normalizeFaultKind(p, &f.Kind, &f.Latency); err != nil {
				return err
			}
			if err := s.checkFaultPods(p+".pods", f.Pods, replicas); err != nil {
				return err
			}
			if f.Duration < 0 {
				return fieldErr(p+".duration", "is negative (%v); zero means until the end of the run", f.Duration)
			}
		case c.Faults != nil:
			f := c.Faults
			p += ".faults"
			if err := normalizeFaultKind(p, &f.Kind, &f.Latency); err != nil {
				return err
			}
			if f.MTBF <= 0 {
				return fieldErr(p+".mtbf", "must be positive, e.g. 10m")
			}
			if f.Duration == (Dist{}) {
				f.Duration = Exp(30 * time.Second)
			}
			if err := f.Duration.validate(p + ".duration"); err != nil {
				return err
			}
			if f.Duration.Mean == 0 {
				return fieldErr(p+".duration.mean", "must be positive")
			}
			if f.Until < 0 {
				return fieldErr(p+".until", "is negative (%v)", f.Until)
			}
		}
	}
	return nil
}

// normalizeFaultKind checks a fault's kind and latency, at path p, and
// sets the default latency of a failing pod.
func normalizeFaultKind(p string, kind *FaultKind, latency *Duration) error {
	switch k := FaultKind(strings.ToLower(string(*kind))); k {
	case FaultFail, FaultHang:
		*kind = k
	case "":
		return fieldErr(p+".kind", "is required: fail (answer every request with an error) or hang (never answer)")
	default:
		return fieldErr(p+".kind", "%q is not fail or hang", string(*kind))
	}
	switch {
	case *latency < 0 || *latency > Duration(time.Hour):
		return fieldErr(p+".latency", "must be between 0 (1ms) and 1h, got %v", *latency)
	case *kind == FaultHang && *latency != 0:
		return fieldErr(p+".latency", "applies to kind fail only: a hung pod never answers")
	case *kind == FaultFail && *latency == 0:
		*latency = Duration(time.Millisecond)
	}
	return nil
}

// checkFaultPods checks how many pods a fault takes, at path p, against
// the replicas the Deployment has then (unless a trace is replayed).
func (s *Scenario) checkFaultPods(p string, pods IntOrPercent, replicas int) error {
	n, err := pods.resolve(max(replicas, 1), true, "1")
	if err != nil {
		return fieldErr(p, "%v", err)
	}
	if n == 0 {
		return fieldErr(p, "%q is no pod: want at least 1, or a percentage above 0%%", string(pods))
	}
	if !strings.HasSuffix(strings.TrimSpace(string(pods)), "%") && n > replicas && !s.replays() && s.Trace == "" {
		return fieldErr(p, "%d is more than the %d replicas", n, replicas)
	}
	return nil
}
