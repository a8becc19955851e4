package sim

import (
	"slices"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// Skew measures how evenly load spreads over pods, per unit of weight.
type Skew struct {
	// PeakToMean is the largest load over the mean: 1 is perfect.
	PeakToMean float64 `json:"peakToMean"`
	// CV is the coefficient of variation, stddev over mean (Envoy's
	// relative stddev): 0 is perfect.
	CV float64 `json:"cv"`
	// Jain is Jain's fairness index, (sum x)^2 / (n sum x^2): 1 is perfect.
	Jain float64 `json:"jain"`
}

// Latency summarises request latency (from arrival at the proxy to the
// end of service) of the requests that succeeded.
type Latency struct {
	Mean Duration `json:"mean"`
	P50  Duration `json:"p50"`
	P90  Duration `json:"p90"`
	P99  Duration `json:"p99"`
	P999 Duration `json:"p999"`
	Max  Duration `json:"max"`
}

// Quantile is one point of a latency distribution: the fraction Q of
// requests took at most Latency.
type Quantile struct {
	Q       float64  `json:"q"`
	Latency Duration `json:"latency"`
}

var cdfQuantiles = []float64{0.1, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.9, 99.95, 99.99}

// Window is one metrics window of a run.
type Window struct {
	Start    Duration `json:"start"`
	Requests int64    `json:"requests"`
	Failed   int64    `json:"failed"`
	// Succeeded counts the requests that ended well in the window, Mean
	// and P99 their latency.
	Succeeded int64    `json:"succeeded"`
	Mean      Duration `json:"mean"`
	P99       Duration `json:"p99"`
	// Pods is the number of pods in the endpoint set for the whole window;
	// RequestSkew is over their requests.
	Pods         int  `json:"pods"`
	RequestSkew  Skew `json:"requestSkew"`
	InFlightSkew Skew `json:"inFlightSkew"`
	// Agreement is the fraction of keys that every proxy sends to the same
	// pod at the window's end; nil for algorithms without key affinity.
	Agreement *float64 `json:"agreement,omitempty"`
}

// Event is one proxy's update of its endpoint set and the disruption it
// caused, for algorithms with key affinity.
type Event struct {
	At        Duration `json:"at"`
	Proxy     int      `json:"proxy"`
	Endpoints int      `json:"endpoints"`
	// Removed and Added are the endpoint IDs that left and joined.
	Removed []string `json:"removed,omitempty"`
	Added   []string `json:"added,omitempty"`
	// KeysMoved is the fraction of the key space whose pod changed.
	KeysMoved float64 `json:"keysMoved"`
	// Optimum is the least fraction any algorithm must move.
	Optimum float64 `json:"optimum"`
	// SessionsMoved is the fraction of live sessions whose pod changed;
	// nil without sessions.
	SessionsMoved *float64 `json:"sessionsMoved,omitempty"`
}

// Disruption sums the key-space disruption over a run's updates,
// averaged over proxies.
type Disruption struct {
	// Updates is the number of proxy updates measured.
	Updates int `json:"updates"`
	// KeysMoved is the total fraction of the key space remapped, as one
	// proxy sees it: the sum over its updates.
	KeysMoved float64 `json:"keysMoved"`
	// Optimum is the same sum for an optimal algorithm.
	Optimum float64 `json:"optimum"`
	// Ratio is KeysMoved / Optimum: 1 is optimal.
	Ratio float64 `json:"ratio"`
	// SessionsMoved is the total fraction of live sessions remapped, as
	// one proxy sees it; nil without sessions.
	SessionsMoved *float64 `json:"sessionsMoved,omitempty"`
}

// Result is what one algorithm did in one run. Everything in it follows
// from the scenario and the seed, except PickNanos, which is the measured
// wall time of the library's Pick.
type Result struct {
	Algorithm string `json:"algorithm"`
	// Requests counts arrivals; Succeeded and Failed how they ended (a
	// request still in flight at the end is neither).
	Requests  int64            `json:"requests"`
	Succeeded int64            `json:"succeeded"`
	Failed    int64            `json:"failed"`
	FailedBy  map[string]int64 `json:"failedBy,omitempty"`
	// Retries counts the proxies' retries (Proxies.Retries).
	Retries int64   `json:"retries,omitempty"`
	Latency Latency `json:"latency"`
	// LatencyCDF is the latency distribution at fixed quantiles (0.1% to
	// 99.99%), for plotting.
	LatencyCDF []Quantile `json:"latencyCDF,omitempty"`
	// RequestSkew is over each pod's request rate while it was in the
	// endpoint set; InFlightSkew is the mean over samples of the pods'
	// requests held (in service and queued).
	RequestSkew  Skew `json:"requestSkew"`
	InFlightSkew Skew `json:"inFlightSkew"`
	// PeakInFlight is the worst sampled in-flight peak-to-mean.
	PeakInFlight float64 `json:"peakInFlight"`
	// Disruption and Agreement are nil for algorithms without key
	// affinity.
	Disruption *Disruption `json:"disruption,omitempty"`
	// Agreement is the mean over windows of the fraction of keys that all
	// proxies route alike; MinAgreement the worst window.
	Agreement    *float64 `json:"agreement,omitempty"`
	MinAgreement *float64 `json:"minAgreement,omitempty"`
	// Stickiness is the fraction of sessions' follow-up requests served by
	// the same pod as the one before; nil without sessions.
	Stickiness *float64 `json:"stickiness,omitempty"`
	// Sessions counts the sessions that started.
	Sessions int64 `json:"sessions,omitempty"`
	// Pods is the number of pods that ever ran; Changes the number of
	// endpoint-set versions published; Crashes the pod crashes.
	Pods    int   `json:"pods"`
	Changes int64 `json:"changes"`
	// MinEndpoints and MaxEndpoints are the smallest and largest endpoint
	// sets published by churn (zero without churn).
	MinEndpoints int   `json:"minEndpoints"`
	MaxEndpoints int   `json:"maxEndpoints"`
	Crashes      int64 `json:"crashes"`
	// PickNanos is the measured wall time of one Picker.Pick, in ns: the
	// median over the run's timed batches (zero unless Options.PickCost).
	PickNanos float64 `json:"pickNanos,omitempty"`
	// TableBytes is the memory of one proxy's lookup table at the end of
	// the run, for pickers that keep one (balancer.TableSizer).
	TableBytes int      `json:"tableBytes,omitempty"`
	Windows    []Window `json:"windows"`
	Events     []Event  `json:"events,omitempty"`
}

func (m *metrics) result(r *run) *Result {
	res := &Result{
		Algorithm:    r.alg.Name,
		Requests:     m.arrivals,
		Succeeded:    m.succeeded,
		Failed:       m.failed,
		Retries:      m.retries,
		Sessions:     m.sessionsStarted,
		Pods:         len(r.pods),
		Changes:      m.changes,
		MinEndpoints: m.minSet,
		MaxEndpoints: m.maxSet,
		Crashes:      m.crashes,
		Windows:      m.windows,
		Events:       m.events,
	}
	if len(m.failedBy) > 0 {
		res.FailedBy = m.failedBy
	}
	if m.lat.TotalCount() > 0 {
		q := func(p float64) Duration {
			return Duration(time.Duration(m.lat.ValueAtQuantile(p)) * time.Microsecond)
		}
		res.Latency = Latency{
			Mean: Duration(time.Duration(m.lat.Mean() * float64(time.Microsecond))),
			P50:  q(50), P90: q(90), P99: q(99), P999: q(99.9),
			Max: Duration(time.Duration(m.lat.Max()) * time.Microsecond),
		}
		for _, p := range cdfQuantiles {
			res.LatencyCDF = append(res.LatencyCDF, Quantile{Q: p / 100, Latency: q(p)})
		}
	}
	var rates []float64
	for i := range r.pods {
		p := &r.pods[i]
		if p.readyFor >= m.window {
			rates = append(rates, float64(p.requests)/p.readyFor.Seconds()/float64(p.weight))
		}
	}
	res.RequestSkew, _ = skewOf(rates)
	res.InFlightSkew = m.inflight.mean()
	res.PeakInFlight = m.inflight.peak
	if m.updates > 0 {
		p := float64(len(r.proxies))
		d := &Disruption{Updates: m.updates, KeysMoved: m.keysMoved / p, Optimum: m.optimum / p}
		if d.Optimum > 0 {
			d.Ratio = d.KeysMoved / d.Optimum
		}
		if m.sessUpdate > 0 {
			s := m.sessMoved / p
			d.SessionsMoved = &s
		}
		res.Disruption = d
	}
	var agree []float64
	for _, w := range m.windows {
		if w.Agreement != nil {
			agree = append(agree, *w.Agreement)
		}
	}
	if len(agree) > 0 {
		var sum float64
		for _, a := range agree {
			sum += a
		}
		mean, least := sum/float64(len(agree)), slices.Min(agree)
		res.Agreement, res.MinAgreement = &mean, &least
	}
	if m.sessionFollowUps > 0 {
		s := 1 - float64(m.sessionMoves)/float64(m.sessionFollowUps)
		res.Stickiness = &s
	}
	if ts, ok := r.proxies[0].bal.Picker().(balancer.TableSizer); ok {
		res.TableBytes = ts.TableBytes()
	}
	if len(m.pickNanos) > 0 {
		slices.Sort(m.pickNanos)
		res.PickNanos = m.pickNanos[len(m.pickNanos)/2]
	}
	return res
}
