package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lbkit/lbkit/config"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/sim/trace"
)

// ErrScenario is wrapped by every error about a scenario's content.
var ErrScenario = errors.New("sim: invalid scenario")

// Scenario is one experiment: a Deployment of pods behind proxies, a
// workload, and the churn that happens to the pods while it runs. Field
// names follow Kubernetes' habits, so a scenario file reads like a
// manifest. The zero value of each field means the default it documents.
type Scenario struct {
	// Name names the scenario in reports.
	Name string `yaml:"name" json:"name"`
	// Description says what the scenario shows.
	Description string `yaml:"description" json:"description,omitempty"`
	// Seed seeds every random draw of the run; zero is a seed like any
	// other.
	Seed uint64 `yaml:"seed" json:"seed"`
	// Duration is how much virtual time the run covers. Required.
	Duration Duration `yaml:"duration" json:"duration"`
	// Window is the length of a metrics window. Zero means Duration/60,
	// rounded down to a millisecond and at least 100 ms.
	Window Duration `yaml:"window" json:"window"`
	// Drain is how long, once Duration is over, the requests still in
	// flight may take to finish: arrivals, sessions and churn stop, the
	// pods go on serving. Those that still have not finished are reported
	// unfinished and count as failed. Zero means 30s.
	Drain Duration `yaml:"drain" json:"drain"`
	// Algorithms lists the algorithms to compare, each a name or an
	// object in lbkit's configuration form (package config), such as
	// {algorithm: ring-hash, minRingSize: 4096}. Empty means all of
	// Algorithms().
	Algorithms []config.Algorithm `yaml:"algorithms" json:"algorithms,omitempty"`
	// Deployment is the pods serving the traffic.
	Deployment Deployment `yaml:"deployment" json:"deployment"`
	// Workload is the traffic.
	Workload Workload `yaml:"workload" json:"workload"`
	// Proxies are the independent load balancers in front of the pods.
	Proxies Proxies `yaml:"proxies" json:"proxies"`
	// Churn is what happens to the pods, in order of At.
	Churn []Churn `yaml:"churn" json:"churn,omitempty"`
	// Trace is a recorded churn trace (CSV or an EndpointSlice watch) to
	// replay instead of a Deployment: its endpoints become the pods, made
	// from Deployment.Template. A relative path is relative to the
	// scenario file. Empty means none.
	Trace string `yaml:"trace" json:"trace,omitempty"`
	// TraceSpeed replays the trace this many times faster than it was
	// recorded: 60 plays an hour in a minute. Zero means 1.
	TraceSpeed float64 `yaml:"traceSpeed" json:"traceSpeed,omitempty"`
	// TraceFile is the trace to replay, read by ReadTrace (LoadScenario
	// reads the file Trace names into it): every run streams it, and none
	// holds it in memory. When set it replaces the Deployment's
	// controller.
	TraceFile *Trace `yaml:"-" json:"-"`
	// TraceEvents are a trace's events held in memory, for small traces
	// made in code; when not empty (and TraceFile is nil) they replace the
	// Deployment's controller.
	TraceEvents []trace.Event `yaml:"-" json:"-"`

	algs   []Algorithm    // Algorithms resolved, by normalize
	health *health.Config // the proxies' health features, by normalize; nil: none
}

// Deployment is a Kubernetes Deployment's worth of pods.
type Deployment struct {
	// Replicas is the number of pods. Required unless a trace is replayed.
	Replicas int `yaml:"replicas" json:"replicas"`
	// Zones are the topology zones pods are spread over, round robin; a
	// zone listed twice takes two shares of the pods ([a, a, b, c] puts
	// half of them in a). Empty means one zone, "zone-a".
	Zones []string `yaml:"zones" json:"zones,omitempty"`
	// Strategy is the rolling-update strategy.
	Strategy Strategy `yaml:"strategy" json:"strategy"`
	// Template describes each pod.
	Template PodTemplate `yaml:"template" json:"template"`
}

// Strategy holds a Deployment's rolling-update parameters.
type Strategy struct {
	RollingUpdate RollingUpdate `yaml:"rollingUpdate" json:"rollingUpdate"`
}

// RollingUpdate bounds a rollout as Kubernetes does: maxSurge pods above
// the desired count (rounded up from a percentage), maxUnavailable below
// it (rounded down). Empty values mean 25%.
type RollingUpdate struct {
	MaxSurge       IntOrPercent `yaml:"maxSurge" json:"maxSurge"`
	MaxUnavailable IntOrPercent `yaml:"maxUnavailable" json:"maxUnavailable"`
}

// PodTemplate describes a pod's capacity and lifecycle.
type PodTemplate struct {
	// Workers is the number of requests a pod serves at once. Zero means 1.
	Workers int `yaml:"workers" json:"workers"`
	// QueueLimit bounds the requests waiting for a worker; an arrival
	// beyond it is rejected and counted failed. Zero means unbounded.
	QueueLimit int `yaml:"queueLimit" json:"queueLimit,omitempty"`
	// ServiceTime is the time a worker takes for one request on a pod of
	// speed 1. Zero means exponential with a mean of 10ms.
	ServiceTime Dist `yaml:"serviceTime" json:"serviceTime"`
	// Weight is each pod's Backend weight. Zero means 1.
	Weight uint32 `yaml:"weight" json:"weight,omitempty"`
	// SlowFraction of the pods (chosen at random) run at SlowSpeed: a slow
	// node. Zero means none.
	SlowFraction float64 `yaml:"slowFraction" json:"slowFraction,omitempty"`
	// SlowSpeed is a slow pod's speed factor, in (0, 1]. Zero means 0.5.
	SlowSpeed float64 `yaml:"slowSpeed" json:"slowSpeed,omitempty"`
	// Warmup is how long a pod runs at WarmupSpeed after it turns ready
	// (a JIT, a cold cache). Zero means no warm-up.
	Warmup Duration `yaml:"warmup" json:"warmup,omitempty"`
	// WarmupSpeed is the speed factor during warm-up. Zero means 0.5.
	WarmupSpeed float64 `yaml:"warmupSpeed" json:"warmupSpeed,omitempty"`
	// ReadinessDelay is the time from a pod's start to its readiness probe
	// passing. Zero means a constant 5s.
	ReadinessDelay Dist `yaml:"readinessDelay" json:"readinessDelay"`
	// PreStop is how long a deleted pod keeps serving before it stops
	// taking new requests (a preStop sleep). Zero means none.
	PreStop Duration `yaml:"preStop" json:"preStop,omitempty"`
	// TerminationGracePeriod is how long a deleted pod may take to finish
	// what it holds before it is killed. Zero means 30s.
	TerminationGracePeriod Duration `yaml:"terminationGracePeriod" json:"terminationGracePeriod"`
}

// Workload is the traffic the proxies receive.
type Workload struct {
	// Rate is the mean request rate per second (Poisson arrivals).
	// Required unless RatePerEndpoint is set.
	Rate float64 `yaml:"rate" json:"rate"`
	// RatePerEndpoint, when above zero, makes the rate follow the endpoint
	// set instead of Rate and Steps: this many requests a second for each
	// endpoint in it, as when an autoscaler sizes the Deployment to its
	// load, or a recorded trace's pod count follows its traffic.
	RatePerEndpoint float64 `yaml:"ratePerEndpoint" json:"ratePerEndpoint,omitempty"`
	// Steps change the rate at given times: a step, a burst and its end.
	Steps []RateStep `yaml:"steps" json:"steps,omitempty"`
	// Keys is the key space requests are hashed on.
	Keys Keys `yaml:"keys" json:"keys"`
	// Sessions, when Requests is above 1, groups requests into client
	// sessions that keep one key.
	Sessions Sessions `yaml:"sessions" json:"sessions"`
}

// RateStep sets the request rate from At on.
type RateStep struct {
	At   Duration `yaml:"at" json:"at"`
	Rate float64  `yaml:"rate" json:"rate"`
}

// Keys is a key space.
type Keys struct {
	// Count is the number of distinct keys. Zero means 100,000.
	Count int `yaml:"count" json:"count"`
	// Distribution is uniform or zipf. Empty means uniform.
	Distribution string `yaml:"distribution" json:"distribution,omitempty"`
	// Exponent is the Zipf exponent s, above 1. Zero means 1.1.
	Exponent float64 `yaml:"exponent" json:"exponent,omitempty"`
}

// Sessions make clients that send several requests under one key.
type Sessions struct {
	// Requests is the mean number of requests a session sends
	// (geometrically distributed). Zero or 1 means no sessions: every
	// request draws its own key.
	Requests float64 `yaml:"requests" json:"requests,omitempty"`
	// ThinkTime is the pause between a response and the session's next
	// request. Zero means exponential with a mean of 1s.
	ThinkTime Dist `yaml:"thinkTime" json:"thinkTime"`
}

// Proxies are the load balancers: kube-proxy on every node, ingress
// replicas, sidecars. Each has its own Balancer and learns of endpoint
// changes on its own.
type Proxies struct {
	// Replicas is the number of proxies; requests are spread over them at
	// random. Zero means 1.
	Replicas int `yaml:"replicas" json:"replicas"`
	// PropagationDelay is how long after an endpoint change a proxy learns
	// of it, drawn per proxy and change; a proxy applies changes in order.
	// Zero means none.
	PropagationDelay Dist `yaml:"propagationDelay" json:"propagationDelay"`
	// Retries is how many times a proxy retries a request that could not
	// connect, met a full queue, or died with its pod (Envoy's
	// connect-failure, refused-stream and reset; nginx's
	// proxy_next_upstream error): at once, on the same proxy, with
	// balancer.Request.Attempt one higher, so that hash pickers choose
	// another endpoint. Zero means none. At most 10. An error answer
	// (a faulty pod's 5xx) and a timeout are not retried, as neither is
	// by default in nginx or Envoy.
	Retries int `yaml:"retries" json:"retries,omitempty"`
	// Timeout is how long a proxy waits for a request's answer, from its
	// arrival and across its retries (Envoy's route timeout), before it
	// fails the request itself with a gateway error: the request counts
	// failed and in Result.TimedOut, and in the latency percentiles at the
	// timeout; it is not retried. The pod does not notice that the client
	// left: a request it has queued or started is still served, at the
	// same cost, and the answer is dropped; a request it holds hung (a
	// hang fault) is let go. Zero means none: a hung request waits until
	// its pod dies or the drain ends. At most 24h.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// HealthCheck makes every proxy probe every pod (active health
	// checking). Left out: none.
	HealthCheck *HealthCheck `yaml:"healthCheck" json:"healthCheck,omitempty"`
	// OutlierDetection makes every proxy eject the pods whose requests
	// fail (Envoy's outlier detection); an empty block, {}, means Envoy's
	// defaults. Left out: none.
	OutlierDetection *OutlierDetection `yaml:"outlierDetection" json:"outlierDetection,omitempty"`
	// PanicThreshold is Envoy's healthy panic threshold in percent: when
	// fewer pods than that are healthy, a proxy picks among all of them.
	// 0 turns it off. Left out: 50, when any other health feature is on.
	PanicThreshold *float64 `yaml:"panicThreshold" json:"panicThreshold,omitempty"`
	// SlowStart ramps up each pod that joins or turns healthy again.
	// Left out: none.
	SlowStart *SlowStart `yaml:"slowStart" json:"slowStart,omitempty"`
	// Zones are the topology zones the proxies run in, spread round robin
	// as the pods are (kube-proxy on every node, ingress replicas across
	// zones). A session's client lives in a zone: its requests go through
	// the proxies of the zone of its first. Empty means the proxies have
	// no zone: nothing is cross-zone.
	Zones []string `yaml:"zones" json:"zones,omitempty"`
	// CrossZoneLatency is added to the latency of a request that a proxy
	// sends to a pod in another zone (the network round trip between
	// zones). Zero means none. At most 10s.
	CrossZoneLatency Duration `yaml:"crossZoneLatency" json:"crossZoneLatency,omitempty"`
	// TrafficDistribution is a Service's trafficDistribution: PreferClose
	// (or its newer name PreferSameZone) makes each proxy send its
	// requests to the pods of its own zone while that zone has any, and to
	// every zone when it has none, as kube-proxy does with the
	// EndpointSlice's zone hints. Empty means none. Needs Zones.
	TrafficDistribution string `yaml:"trafficDistribution" json:"trafficDistribution,omitempty"`
	// ZoneAwareRouting is Envoy's zone-aware routing: each proxy keeps in
	// its zone the share of its traffic that the zone's pods can take,
	// given how the proxies are spread, and spills the rest to the zones
	// with capacity to spare. Left out: none. Needs Zones; not with
	// TrafficDistribution.
	ZoneAwareRouting *ZoneAwareRouting `yaml:"zoneAwareRouting" json:"zoneAwareRouting,omitempty"`
	// SessionAffinity keeps each client on one pod, as a Service's
	// sessionAffinity or an ingress's sticky cookie does. Left out: none.
	SessionAffinity *SessionAffinity `yaml:"sessionAffinity" json:"sessionAffinity,omitempty"`
}

// ZoneAwareRouting configures Envoy's zone-aware routing.
type ZoneAwareRouting struct {
	// MinClusterSize is Envoy's min_cluster_size: with fewer pods in the
	// endpoint set, routing ignores zones. Zero means 6.
	MinClusterSize int `yaml:"minClusterSize" json:"minClusterSize,omitempty"`
}

// Session affinity types, a Service's sessionAffinity and an ingress's
// cookie.
const (
	// AffinityClientIP keeps a table on each proxy from a client to the pod
	// that served it, as kube-proxy keeps one on each node. A client on a
	// node always goes through that node's proxy, so with ClientIP a
	// session sends all its requests through the proxy of its first.
	AffinityClientIP = "ClientIP"
	// AffinityCookie answers a client's first request with a cookie naming
	// the pod that served it (HAProxy's cookie insert, Envoy's stateful
	// sessions), which every proxy honours: a session's requests may go
	// through any proxy. Requests that are not part of a session carry no
	// cookie.
	AffinityCookie = "Cookie"
)

// SessionAffinity keeps each client (a session's key) on one pod while
// that pod is in the proxy's set and healthy.
type SessionAffinity struct {
	// Type is ClientIP or Cookie. Required.
	Type string `yaml:"type" json:"type"`
	// TimeoutSeconds is how long a ClientIP entry lives without use
	// (refreshed on every use), or how long a cookie is honoured after it
	// was issued. Zero means 10800, Kubernetes' default; at most 86400.
	TimeoutSeconds int `yaml:"timeoutSeconds" json:"timeoutSeconds,omitempty"`
}

// Churn is one change to the pods, starting at At. Exactly one action
// field is set.
type Churn struct {
	At Duration `yaml:"at" json:"at"`
	// RollingUpdate replaces every pod by a new one, within the
	// Deployment's strategy.
	RollingUpdate *RolloutAction `yaml:"rollingUpdate" json:"rollingUpdate,omitempty"`
	// Scale changes the replica count.
	Scale *ScaleAction `yaml:"scale" json:"scale,omitempty"`
	// Crashes makes pods crash at random and restart.
	Crashes *CrashAction `yaml:"crashes" json:"crashes,omitempty"`
	// DrainZone deletes every pod of a zone and replaces it in the others.
	DrainZone *DrainAction `yaml:"drainZone" json:"drainZone,omitempty"`
	// Fault makes some pods fail or hang at At, while they stay ready.
	Fault *FaultAction `yaml:"fault" json:"fault,omitempty"`
	// Faults makes pods fail or hang at random from At, and recover.
	Faults *FaultsAction `yaml:"faults" json:"faults,omitempty"`
}

// RolloutAction is a rollout of a new pod template.
type RolloutAction struct {
	// ServiceTime, when set, is the new pods' service time (a new version
	// that is slower or faster). Zero means unchanged.
	ServiceTime Dist `yaml:"serviceTime" json:"serviceTime"`
}

// ScaleAction changes the replica count, Step pods every Interval.
type ScaleAction struct {
	// Replicas is the new replica count.
	Replicas int `yaml:"replicas" json:"replicas"`
	// Step is how many pods to add or remove at a time. Zero means all at
	// once.
	Step int `yaml:"step" json:"step,omitempty"`
	// Interval is the time between steps. Zero means 10s.
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
}

// CrashAction makes each pod crash after an exponentially distributed
// time with mean MTBF, until Until; a crashed pod's requests fail, its
// endpoint turns unready after the readiness probe notices, and it
// restarts with the same address after RestartDelay.
type CrashAction struct {
	MTBF Duration `yaml:"mtbf" json:"mtbf"`
	// RestartDelay is the container restart backoff. Zero means 10s.
	RestartDelay Duration `yaml:"restartDelay" json:"restartDelay,omitempty"`
	// DetectionDelay is how long until the readiness probe marks a crashed
	// pod unready (periodSeconds x failureThreshold). Zero means 30s.
	DetectionDelay Duration `yaml:"detectionDelay" json:"detectionDelay,omitempty"`
	// Until ends the crashes. Zero means the end of the run.
	Until Duration `yaml:"until" json:"until,omitempty"`
}

// DrainAction drains one zone: a node-pool upgrade or a zone outage.
type DrainAction struct {
	Zone string `yaml:"zone" json:"zone"`
}

// FaultKind is how a faulty pod misbehaves. A faulty pod stays ready and
// in the endpoint set: its readiness probe still passes, so Kubernetes
// does not notice, and only the proxies' own checks could.
type FaultKind string

const (
	// FaultFail is a pod that answers every request it takes with an
	// error after a short latency (a pod whose database connection
	// broke): an HTTP 5xx, balancer.UpstreamFailure. It takes no worker:
	// the error comes before the work, whatever the pod holds. Requests
	// it took before the fault are served as before.
	FaultFail FaultKind = "fail"
	// FaultHang is a pod that accepts requests and never answers them (a
	// deadlock, a full connection pool with no timeout): each is held
	// until the proxy's timeout (Proxies.Timeout) fails it, the pod dies
	// (crash, or killed at the end of its grace period), or the drain
	// ends and it counts unfinished. Recovery does not release them: the
	// stuck requests stay stuck, and only requests that come after it are
	// served. Requests it took before the fault are served as before.
	FaultHang FaultKind = "hang"
)

// FaultAction makes Pods pods, chosen at random among the ready pods in
// the endpoint set that are not faulty already, fail or hang from At for
// Duration.
type FaultAction struct {
	// Kind is fail or hang. Required.
	Kind FaultKind `yaml:"kind" json:"kind"`
	// Pods is how many pods fault: a count, or a percentage of the pods in
	// the endpoint set at At, rounded up. Empty means 1.
	Pods IntOrPercent `yaml:"pods" json:"pods,omitempty"`
	// Duration is how long the pods stay faulty before they recover. Zero
	// means until the end of the run.
	Duration Duration `yaml:"duration" json:"duration,omitempty"`
	// Latency is how long a failing pod takes to answer with its error
	// (kind fail only). Zero means 1ms.
	Latency Duration `yaml:"latency" json:"latency,omitempty"`
}

// FaultsAction makes each ready pod fault after an exponentially
// distributed time with mean MTBF, from At until Until, for a Duration
// drawn per fault, after which it recovers and its next fault is drawn. A
// crash ends a pod's fault (the container restarts); a pod that is faulty
// already when its turn comes (a FaultAction) skips it.
type FaultsAction struct {
	// Kind is fail or hang. Required.
	Kind FaultKind `yaml:"kind" json:"kind"`
	// MTBF is the mean time a pod runs well before it faults. Required.
	MTBF Duration `yaml:"mtbf" json:"mtbf"`
	// Duration is how long each fault lasts. Zero means exponential with
	// a mean of 30s.
	Duration Dist `yaml:"duration" json:"duration"`
	// Latency is how long a failing pod takes to answer with its error
	// (kind fail only). Zero means 1ms.
	Latency Duration `yaml:"latency" json:"latency,omitempty"`
	// Until ends the faults: none begins after it, and those under way
	// run their course. Zero means the end of the run.
	Until Duration `yaml:"until" json:"until,omitempty"`
}

// Duration is a time.Duration that reads and writes as "1.5s" in YAML and
// JSON; a bare number is seconds.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration ("250ms", "1m30s") or seconds ("2.5").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// ParseDuration reads a Go duration ("250ms", "1m30s") or a number of
// seconds ("2.5"). Negative, NaN and infinite values are errors.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > float64(math.MaxInt64)/1e9 {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a Go duration such as 1.5s or a number of seconds", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

// IntOrPercent is a count ("3") or a percentage of the replicas ("25%"),
// as in a Deployment's maxSurge.
type IntOrPercent string

// resolve returns the count for replicas, rounding a percentage up or
// down; empty means def.
func (v IntOrPercent) resolve(replicas int, up bool, def IntOrPercent) (int, error) {
	s := strings.TrimSpace(string(v))
	if s == "" {
		s = string(def)
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
			return 0, fmt.Errorf("%q is not a percentage between 0%% and 100%%", s)
		}
		x := f * float64(replicas) / 100
		if up {
			return int(math.Ceil(x - 1e-9)), nil
		}
		return int(math.Floor(x + 1e-9)), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is neither a count nor a percentage", s)
	}
	return n, nil
}
