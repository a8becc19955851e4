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

// Latency summarises request latency, from arrival at the proxy to the
// end of service, over the requests that succeeded, those the proxy timed
// out (at the timeout, Proxies.Timeout: what their clients waited) and
// those that never finished. An unfinished request counts at its age when
// the drain ended, which is only a lower bound on its latency; a figure
// that such a request reaches is a lower bound too, and AtLeast names it.
// Other failed requests are not in it: their failure rate is.
type Latency struct {
	Mean Duration `json:"mean"`
	P50  Duration `json:"p50"`
	P90  Duration `json:"p90"`
	P99  Duration `json:"p99"`
	P999 Duration `json:"p999"`
	Max  Duration `json:"max"`
	// AtLeast lists the figures that are lower bounds, by JSON name
	// ("p99", "p999", "max", "mean"); empty when every request finished.
	AtLeast []string `json:"atLeast,omitempty"`
}

// Bound reports whether the named figure ("p99") is a lower bound.
func (l Latency) Bound(name string) bool { return slices.Contains(l.AtLeast, name) }

// Quantile is one point of a latency distribution: the fraction Q of
// requests took at most Latency, or at least Latency when AtLeast.
type Quantile struct {
	Q       float64  `json:"q"`
	Latency Duration `json:"latency"`
	AtLeast bool     `json:"atLeast,omitempty"`
}

var cdfQuantiles = []float64{0.1, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.9, 99.95, 99.99}

// Window is one metrics window of a run.
type Window struct {
	Start Duration `json:"start"`
	End   Duration `json:"end"`
	// Short marks a last window cut to less than half the others' length
	// by the end of the run: too few requests for its skew to mean much,
	// so it counts in no run-wide skew.
	Short    bool  `json:"short,omitempty"`
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed"`
	// Succeeded counts the requests that ended well in the window, Mean
	// and P99 their latency.
	Succeeded int64    `json:"succeeded"`
	Mean      Duration `json:"mean"`
	P99       Duration `json:"p99"`
	// Pods is the number of pods in the endpoint set for the whole window;
	// RequestSkew is over their requests, InFlightSkew over the requests
	// each held (in service and queued) averaged over the window's time.
	Pods         int  `json:"pods"`
	RequestSkew  Skew `json:"requestSkew"`
	InFlightSkew Skew `json:"inFlightSkew"`
	// Agreement is the fraction of keys that every proxy sends to the same
	// pod at the window's end; nil for algorithms without key affinity.
	Agreement *float64 `json:"agreement,omitempty"`
	// Offered is the rate of requests the workload offers in the window,
	// a second, as the model sets it (not the arrivals' count, which is
	// noisy); Capacity the nominal rate the endpoint set serves (workers x
	// speed / mean service time, summed over its pods, averaged over the
	// window; warm-up not counted).
	Offered  float64 `json:"offered"`
	Capacity float64 `json:"capacity"`
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

// HealthResult is what the proxies' health features did in a run, summed
// over the proxies.
type HealthResult struct {
	// Probes counts the active checks sent.
	Probes int64 `json:"probes"`
	// Ejections counts outlier ejections; Downs the endpoints active
	// checks took down; Panics the entries into panic.
	Ejections int `json:"ejections"`
	Downs     int `json:"downs"`
	Panics    int `json:"panics"`
	// Detections counts the pods' bad spells (a fault, a crash) that a
	// proxy took out of its rotation, once each per proxy; DetectMean is
	// the mean time from the pod going bad to the proxy taking it out.
	Detections int      `json:"detections"`
	DetectMean Duration `json:"detectMean"`
	// HealthyEjections counts ejections of pods that were neither faulty
	// nor crashed: overload, or bad luck.
	HealthyEjections int `json:"healthyEjections"`
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
	// Requests counts arrivals; Succeeded, Failed and Unfinished how they
	// ended: Unfinished requests were still in flight when the drain after
	// the run ended (Scenario.Drain). The three add up to Requests.
	Requests   int64            `json:"requests"`
	Succeeded  int64            `json:"succeeded"`
	Failed     int64            `json:"failed"`
	Unfinished int64            `json:"unfinished"`
	FailedBy   map[string]int64 `json:"failedBy,omitempty"`
	// FailureRate is (Failed + Unfinished) / Requests.
	FailureRate float64 `json:"failureRate"`
	// Load is the mean over windows of the offered rate over the nominal
	// capacity of the endpoint set; Overloaded the fraction of windows
	// where it was above 1 (queues grow without bound there, whatever the
	// algorithm); PeakLoad the largest.
	Load       float64 `json:"load"`
	Overloaded float64 `json:"overloaded"`
	PeakLoad   float64 `json:"peakLoad"`
	// Retries counts the proxies' retries (Proxies.Retries).
	Retries int64 `json:"retries,omitempty"`
	// TimedOut counts the requests that failed at the proxy's timeout
	// (Proxies.Timeout), FailedBy's "timeout": they are in Failed.
	TimedOut int64 `json:"timedOut,omitempty"`
	// Faults counts the pod faults that began (Churn.Fault, Churn.Faults).
	Faults int64 `json:"faults,omitempty"`
	// ToFaulty counts the requests a proxy sent to a pod that was failing
	// or hanging at the time; a retry sent to one counts again.
	ToFaulty int64 `json:"toFaulty,omitempty"`
	// CrossZone is the fraction of the requests sent by proxies with a
	// zone (Proxies.Zones) that went to a pod in another zone; nil when
	// the proxies have none.
	CrossZone *float64 `json:"crossZone,omitempty"`
	// Health is what the proxies' health features did; nil without them.
	Health  *HealthResult `json:"health,omitempty"`
	Latency Latency       `json:"latency"`
	// LatencyCDF is the latency distribution at fixed quantiles (0.1% to
	// 99.99%), for plotting.
	LatencyCDF []Quantile `json:"latencyCDF,omitempty"`
	// RequestSkew is over each pod's request rate while it was in the
	// endpoint set; InFlightSkew is the mean over windows of the skew of
	// the requests each pod held (in service and queued), averaged over the
	// window's time, so it reads the same at low load as at high.
	RequestSkew  Skew `json:"requestSkew"`
	InFlightSkew Skew `json:"inFlightSkew"`
	// PeakInFlight is the worst window's in-flight peak-to-mean.
	PeakInFlight float64 `json:"peakInFlight"`
	// Disruption and Agreement are nil for algorithms without key
	// affinity. Disruption counts the keys that health transitions
	// (ejections, checks, slow-start steps) remapped too.
	Disruption *Disruption `json:"disruption,omitempty"`
	// Agreement is the mean over windows of the fraction of keys that all
	// proxies route alike (with zone routing, all proxies of a zone, as
	// each zone's proxies keep keys in their zone); MinAgreement the worst
	// window.
	Agreement    *float64 `json:"agreement,omitempty"`
	MinAgreement *float64 `json:"minAgreement,omitempty"`
	// Stickiness is the fraction of sessions' follow-up requests served by
	// the same pod as the one before; nil without sessions.
	Stickiness *float64 `json:"stickiness,omitempty"`
	// Sessions counts the sessions that started.
	Sessions int64 `json:"sessions,omitempty"`
	// ZoneLoad is, by pod zone, the zone's requests per unit of pod
	// weight and time in the endpoint set over the same across all zones
	// (1: the zone's pods took their share); nil with one zone.
	ZoneLoad map[string]float64 `json:"zoneLoad,omitempty"`
	// SessionsBroken counts sessions' follow-up requests served by another
	// pod than the one before. SessionsForced counts those of them whose
	// pod could no longer serve them (out of the endpoint set, crashed or
	// faulty): those had to move whatever the routing, the optimum.
	SessionsBroken int64 `json:"sessionsBroken,omitempty"`
	SessionsForced int64 `json:"sessionsForced,omitempty"`
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
		Algorithm:      r.alg.Name,
		Requests:       m.arrivals,
		Succeeded:      m.succeeded,
		Failed:         m.failed,
		Unfinished:     m.unfinished,
		Retries:        m.retries,
		TimedOut:       m.timedOut,
		Faults:         m.faults,
		ToFaulty:       m.toFaulty,
		Sessions:       m.sessionsStarted,
		SessionsBroken: m.sessionMoves,
		SessionsForced: m.sessionForced,
		Pods:           r.podsCreated,
		Changes:        m.changes,
		MinEndpoints:   m.minSet,
		MaxEndpoints:   m.maxSet,
		Crashes:        m.crashes,
		Windows:        m.windows,
		Events:         m.events,
	}
	if m.zoned > 0 {
		x := float64(m.crossZone) / float64(m.zoned)
		res.CrossZone = &x
	}
	if r.proxies[0].h != nil {
		h := &HealthResult{Probes: m.probes, Ejections: m.ejections, Downs: m.downs, Panics: m.panics,
			Detections: m.detections, HealthyEjections: m.healthyEjections}
		if m.detections > 0 {
			h.DetectMean = Duration(m.detectSum / time.Duration(m.detections))
		}
		res.Health = h
	}
	if len(m.failedBy) > 0 {
		res.FailedBy = m.failedBy
	}
	if res.Requests > 0 {
		res.FailureRate = float64(res.Failed+res.Unfinished) / float64(res.Requests)
	}
	if m.lat.TotalCount() > 0 {
		// A figure is a lower bound when an unfinished request, counted at
		// its age, reaches it: its true latency could push it higher.
		bound := func(v int64) bool {
			return m.unfinished > 0 && max(int64(m.minCensored/time.Microsecond), 1) <= v
		}
		q := func(p float64, name string) Duration {
			v := m.lat.ValueAtQuantile(p)
			if name != "" && bound(v) {
				res.Latency.AtLeast = append(res.Latency.AtLeast, name)
			}
			return Duration(time.Duration(v) * time.Microsecond)
		}
		res.Latency.P50, res.Latency.P90 = q(50, "p50"), q(90, "p90")
		res.Latency.P99, res.Latency.P999 = q(99, "p99"), q(99.9, "p999")
		res.Latency.Mean = Duration(time.Duration(m.lat.Mean() * float64(time.Microsecond)))
		res.Latency.Max = Duration(time.Duration(m.lat.Max()) * time.Microsecond)
		if m.unfinished > 0 {
			res.Latency.AtLeast = append(res.Latency.AtLeast, "mean", "max")
		}
		for _, p := range cdfQuantiles {
			v := m.lat.ValueAtQuantile(p)
			res.LatencyCDF = append(res.LatencyCDF, Quantile{Q: p / 100, Latency: q(p, ""), AtLeast: bound(v)})
		}
	}
	var span time.Duration
	for i, w := range m.windows {
		end := m.end
		if i+1 < len(m.windows) {
			end = m.windows[i+1].Start.Std()
		}
		d := end - w.Start.Std()
		if d <= 0 || w.Capacity <= 0 && w.Offered <= 0 {
			continue
		}
		span += d
		if w.Capacity <= 0 { // no endpoints: every request fails
			res.Overloaded += d.Seconds()
			continue
		}
		load := w.Offered / w.Capacity
		if load > 1 {
			res.Overloaded += d.Seconds()
		}
		res.PeakLoad = max(res.PeakLoad, load)
		res.Load += load * d.Seconds()
	}
	if span > 0 {
		res.Overloaded /= span.Seconds()
		res.Load /= span.Seconds()
	}
	rates := m.rates
	for i := range r.pods {
		if p := &r.pods[i]; p.state != podGone && p.readyFor >= m.window {
			rates.add(float64(p.requests) / p.readyFor.Seconds() / float64(p.weight))
		}
	}
	res.RequestSkew, _ = rates.skew()
	zones := map[string]*zoneSum{}
	for name, z := range m.zones {
		c := *z
		zones[name] = &c
	}
	for i := range r.pods {
		if p := &r.pods[i]; p.state != podGone {
			zones = addZone(zones, p)
		}
	}
	res.ZoneLoad = zoneLoad(zones)
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
