package sim

import (
	"fmt"
	"iter"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/lbkit/lbkit/balancer"
)

// Failure reasons, as reported in Result.FailedBy.
const (
	failNoEndpoints = "no-endpoints" // the proxy had no endpoint at all
	failRefused     = "refused"      // routed to a pod that was gone or stopping
	failQueueFull   = "queue-full"   // the pod's queue was at its limit
	failKilled      = "killed"       // in flight when the pod crashed or was killed
	failUpstream    = "error-answer" // a failing pod answered with an error (FaultFail)
	failTimeout     = "timeout"      // no answer within the proxy's timeout
)

// metrics collects a run's measurements in memory bounded by the number
// of windows, pods and updates, never by the number of requests.
type metrics struct {
	window time.Duration

	arrivals, succeeded int64
	retries             int64
	unfinished          int64         // still in flight when the drain ended
	minCensored         time.Duration // the youngest unfinished request's age
	failedBy            map[string]int64
	lat, winLat         *hdrhistogram.Histogram

	sessionsStarted, sessionFollowUps, sessionMoves int64
	sessionForced                                   int64 // of the moves, those whose previous pod could no longer serve
	crashes, changes                                int64
	faults, toFaulty, timedOut                      int64
	crossZone, zoned                                int64 // requests sent to another zone; sent by a proxy with a zone
	// health features (healthrun.go)
	probes                               int64
	ejections, downs, panics, detections int
	healthyEjections, healthRebuilds     int
	detectSum                            time.Duration
	pickNanos                            []float64 // ns a pick, one a timed batch
	timingKeys                           []balancer.Request
	timing                               balancer.Picker // pick timing's own copy of proxy 0's Picker
	timingVersion                        int             // the endpoint version timing was built for
	winLatSum                            time.Duration

	// in-flight skew over windows
	inflight skewAcc
	// the time integrals of the endpoint set's capacity and size in the
	// window
	capArea, sizeArea float64
	capAt             time.Duration

	// disruption, summed over proxy updates (consistent algorithms)
	keys       []uint64 // sampled key hashes
	updates    int
	keysMoved  float64
	optimum    float64
	sessMoved  float64
	sessUpdate int
	events     []Event

	rates skewSum // each gone pod's request rate, per unit of weight
	// zones sums, by pod zone, the requests gone pods received and their
	// time in the endpoint set times their weight.
	zones     map[string]*zoneSum
	windows   []Window
	end       time.Duration // when the run ended (before its drain)
	minSet    int           // the smallest and largest endpoint set published after the start
	maxSet    int
	winStart  time.Duration
	winArr    int64
	winFailed int64
	failed    int64
}

// skewAcc averages skew figures over samples.
type skewAcc struct {
	n             int
	p2m, cv, jain float64
	peak          float64
}

func (a *skewAcc) add(s Skew) {
	a.n++
	a.p2m += s.PeakToMean
	a.cv += s.CV
	a.jain += s.Jain
	a.peak = max(a.peak, s.PeakToMean)
}

func (a *skewAcc) mean() Skew {
	if a.n == 0 {
		return Skew{}
	}
	n := float64(a.n)
	return Skew{PeakToMean: a.p2m / n, CV: a.cv / n, Jain: a.jain / n}
}

func newMetrics(r *run, rng *rand.Rand) *metrics {
	m := &metrics{
		window:   r.sc.Window.Std(),
		failedBy: map[string]int64{},
		lat:      hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3),
		winLat:   hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3),
	}
	if r.alg.Consistent {
		// The whole key space when it is small enough, else a sample.
		n := min(r.opts.DisruptionKeys, r.keys.count)
		m.keys = make([]uint64, n)
		for i := range m.keys {
			k := uint64(i)
			if n < r.keys.count {
				k = uint64(rng.IntN(r.keys.count))
			}
			m.keys[i] = r.keys.hashOf(k)
		}
	}
	return m
}

func (m *metrics) success(lat time.Duration) {
	m.succeeded++
	us := max(int64(lat/time.Microsecond), 1)
	_ = m.lat.RecordValue(us)
	_ = m.winLat.RecordValue(us)
	m.winLatSum += lat
}

// pending is the number of requests that arrived and have neither
// succeeded nor failed yet.
func (m *metrics) pending() int64 { return m.arrivals - m.succeeded - m.failed }

// drained counts the requests still unfinished when the drain ends and
// records each in the latency distribution at its age then: a lower bound
// on its latency, which makes any percentile at or above the youngest
// such age a lower bound too.
func (m *metrics) drained(r *run) {
	m.unfinished = m.pending()
	var n int64
	for i := range r.reqs {
		q := &r.reqs[i]
		if !q.live || q.cancelled || q.timedOut {
			continue
		}
		age := r.now - q.arrival
		if n == 0 || age < m.minCensored {
			m.minCensored = age
		}
		n++
		_ = m.lat.RecordValue(max(int64(age/time.Microsecond), 1))
	}
	if n != m.unfinished && r.err == nil {
		r.fail(fmt.Errorf("sim: internal error: %d requests pending but %d in flight", m.unfinished, n))
	}
}

func (m *metrics) fail(reason string) {
	m.failedBy[reason]++
	m.failed++
	m.winFailed++
}

// timeout counts a request the proxy gave up on after lat, which the
// latency distribution counts at lat.
func (m *metrics) timeout(lat time.Duration) {
	m.fail(failTimeout)
	m.timedOut++
	_ = m.lat.RecordValue(max(int64(lat/time.Microsecond), 1))
}

// capacityChange brings the integrals of the set's capacity and size,
// which were c and n until now, up to date: call it before they change.
func (m *metrics) capacityChange(now time.Duration, c float64, n int) {
	m.capArea += c * float64(now-m.capAt)
	m.sizeArea += float64(n) * float64(now-m.capAt)
	m.capAt = now
}

// podDone takes what the run-wide metrics keep of a pod that is gone:
// its request rate over its time in the endpoint set, when that was a
// window or more.
func (m *metrics) podDone(p *pod) {
	if p.readyFor >= m.window {
		m.rates.add(float64(p.requests) / p.readyFor.Seconds() / float64(p.weight))
	}
	m.zones = addZone(m.zones, p)
}

// zoneSum is a zone's pods' requests and weighted time in the set.
type zoneSum struct {
	requests float64
	weighted float64 // seconds in the endpoint set, times weight
}

// addZone adds a pod's requests and time to its zone's sums.
func addZone(zones map[string]*zoneSum, p *pod) map[string]*zoneSum {
	if p.zone == "" || p.readyFor <= 0 {
		return zones
	}
	if zones == nil {
		zones = map[string]*zoneSum{}
	}
	z := zones[p.zone]
	if z == nil {
		z = &zoneSum{}
		zones[p.zone] = z
	}
	z.requests += float64(p.requests)
	z.weighted += p.readyFor.Seconds() * float64(p.weight)
	return zones
}

// zoneLoad returns each zone's request rate per unit of pod weight and
// time in the set, over the same rate across all zones: 1 is an even
// share; nil with fewer than two zones.
func zoneLoad(zones map[string]*zoneSum) map[string]float64 {
	if len(zones) < 2 {
		return nil
	}
	// Summed in the zones' order, not the map's, so that a run's report
	// is the same to the last bit every time.
	names := slices.Sorted(maps.Keys(zones))
	var req, w float64
	for _, name := range names {
		req += zones[name].requests
		w += zones[name].weighted
	}
	if req == 0 || w == 0 {
		return nil
	}
	out := make(map[string]float64, len(zones))
	for name, z := range zones {
		if z.weighted > 0 {
			out[name] = z.requests / z.weighted / (req / w)
		}
	}
	return out
}

// skewSum accumulates the sums skewOf needs, one value at a time.
type skewSum struct {
	n             int
	sum, sq, peak float64
}

func (s *skewSum) add(x float64) {
	s.n++
	s.sum += x
	s.sq += x * x
	s.peak = max(s.peak, x)
}

// skew returns what skewOf returns for the values added.
func (s skewSum) skew() (Skew, bool) {
	if s.n == 0 || s.sum == 0 {
		return Skew{}, false
	}
	n := float64(s.n)
	mean := s.sum / n
	variance := max(s.sq/n-mean*mean, 0)
	return Skew{PeakToMean: s.peak / mean, CV: math.Sqrt(variance) / mean, Jain: s.sum * s.sum / (n * s.sq)}, true
}

// skewOf returns peak-to-mean, CV and Jain's index of xs; ok is false
// when they are undefined (no load at all).
func skewOf(xs []float64) (Skew, bool) {
	var s skewSum
	for _, x := range xs {
		s.add(x)
	}
	return s.skew()
}

// update is one proxy's move from one endpoint set to the next: what
// the disruption metrics look at.
type update struct {
	at       time.Duration
	proxy    int
	old, now balancer.Picker
	from, to []balancer.Backend
	// sessions yields the keys of up to n live sessions, an even sample
	// when there are more.
	sessions func(n int) iter.Seq[uint64]
}

// updated measures what an update did to the key space and to live
// sessions.
func (m *metrics) updated(u update) {
	if u.old == nil || len(m.keys) == 0 {
		return
	}
	old, now := u.old, u.now
	moved := 0
	for _, h := range m.keys {
		if !samePick(old, now, h) {
			moved++
		}
	}
	frac := float64(moved) / float64(len(m.keys))
	removed, added, opt := diff(u.from, u.to)
	ev := Event{At: Duration(u.at), Proxy: u.proxy, Endpoints: len(u.to), Removed: removed, Added: added, KeysMoved: frac, Optimum: opt}
	checked, sessMoved := 0, 0
	for h := range u.sessions(len(m.keys)) {
		checked++
		if !samePick(old, now, h) {
			sessMoved++
		}
	}
	if checked > 0 {
		f := float64(sessMoved) / float64(checked)
		ev.SessionsMoved = &f
		m.sessMoved += f
		m.sessUpdate++
	}
	m.updates++
	m.keysMoved += frac
	m.optimum += opt
	m.events = append(m.events, ev)
}

// rebuilt counts the keys and sessions a health transition remapped on
// one proxy (an ejection, a check, a slow-start step): the set did not
// change, so nothing had to move; these moves add to the run's total
// over the optimum.
func (m *metrics) rebuilt(old, now balancer.Picker, sessions func(int) iter.Seq[uint64]) {
	if len(m.keys) == 0 || old == now {
		return
	}
	moved := 0
	for _, h := range m.keys {
		if !samePick(old, now, h) {
			moved++
		}
	}
	m.keysMoved += float64(moved) / float64(len(m.keys))
	checked, sessMoved := 0, 0
	for h := range sessions(len(m.keys)) {
		checked++
		if !samePick(old, now, h) {
			sessMoved++
		}
	}
	if checked > 0 {
		m.sessMoved += float64(sessMoved) / float64(checked)
	}
	m.healthRebuilds++
}

func samePick(a, b balancer.Picker, h uint64) bool {
	req := balancer.Request{Hash: h, HasHash: true}
	ea, errA := a.Pick(req)
	eb, errB := b.Pick(req)
	if errA != nil || errB != nil {
		return errA != nil && errB != nil
	}
	return ea.ID == eb.ID
}

// diff compares endpoint sets a and b: the IDs removed and added, and
// the optimum, the least fraction of a uniform key space that any
// algorithm must move: the weight share of the removed endpoints in a or
// of the added ones in b, whichever is larger.
func diff(a, b []balancer.Backend) (removed, added []string, optimum float64) {
	ina, inb := idSet(a), idSet(b)
	share := func(set []balancer.Backend, other map[string]bool, ids *[]string) float64 {
		var total, gone float64
		for _, e := range set {
			w := float64(max(e.Weight, 1))
			total += w
			if !other[e.ID] {
				gone += w
				*ids = append(*ids, e.ID)
			}
		}
		if total == 0 {
			return 0
		}
		return gone / total
	}
	optimum = max(share(a, inb, &removed), share(b, ina, &added))
	if len(a) == 0 || len(b) == 0 {
		optimum = 1
	}
	return removed, added, optimum
}

func idSet(set []balancer.Backend) map[string]bool {
	m := make(map[string]bool, len(set))
	for _, e := range set {
		m[e.ID] = true
	}
	return m
}

// agreement is the fraction of sampled keys that every proxy's picker
// sends to the same endpoint.
// With zone routing, proxies route keys to their own zones by design,
// so zones is the number of zones and a key counts as agreed when every
// proxy of each zone (proxy i is in zone i mod zones) routes it alike;
// zones is 1 otherwise.
func (m *metrics) agreement(pickers []balancer.Picker, zones int) (float64, bool) {
	if len(m.keys) == 0 || len(pickers) < zones+1 {
		return 0, false
	}
	n := min(len(m.keys), 1024)
	same := 0
	for _, h := range m.keys[:n] {
		all := true
		for i := zones; i < len(pickers) && all; i++ {
			all = samePick(pickers[i%zones], pickers[i], h)
		}
		if all {
			same++
		}
	}
	return float64(same) / float64(n), true
}

// closeWindow records the window that ends now.
func (m *metrics) closeWindow(r *run) {
	w := Window{Start: Duration(m.winStart), End: Duration(r.now), Requests: m.arrivals - m.winArr, Failed: m.winFailed}
	w.Short = r.now-m.winStart < m.window/2
	if n := m.winLat.TotalCount(); n > 0 {
		w.Succeeded = n
		w.Mean = Duration(m.winLatSum / time.Duration(n))
		w.P99 = Duration(time.Duration(m.winLat.ValueAtQuantile(99)) * time.Microsecond)
	}
	// Requests and requests held (time-averaged over the window), per
	// unit of weight, of the pods in the set for the whole window.
	var loads, held []float64
	span := r.now - m.winStart
	for i := range r.pods {
		p := &r.pods[i]
		p.touch(r.now)
		if p.inSet && p.setSince <= m.winStart && span > 0 {
			loads = append(loads, float64(p.winRequests)/float64(p.weight))
			held = append(held, p.loadArea/float64(span)/float64(p.weight))
		}
		p.winRequests = 0
		p.loadArea = 0
	}
	m.capacityChange(r.now, r.capNow, r.setSize)
	if span > 0 {
		w.Capacity = m.capArea / float64(span)
		if pe := r.sc.Workload.RatePerEndpoint; pe > 0 {
			w.Offered = pe * m.sizeArea / float64(span)
		} else {
			w.Offered = r.sc.Workload.integral(m.winStart, r.now) / span.Seconds()
		}
	}
	m.capArea, m.sizeArea = 0, 0
	w.Pods = len(loads)
	if s, ok := skewOf(loads); ok {
		w.RequestSkew = s
	}
	if s, ok := skewOf(held); ok {
		w.InFlightSkew = s
		if !w.Short {
			m.inflight.add(s)
		}
	}
	pickers := make([]balancer.Picker, len(r.proxies))
	for i := range r.proxies {
		pickers[i] = r.proxies[i].bal.Picker()
	}
	zones := 1
	if px := &r.sc.Proxies; !r.alg.Baseline && (px.TrafficDistribution != "" || px.ZoneAwareRouting != nil) {
		zones = len(px.Zones)
	}
	if a, ok := m.agreement(pickers, zones); ok {
		w.Agreement = &a
	}
	if r.opts.PickCost {
		m.timePicks(r)
	}
	m.windows = append(m.windows, w)
	m.winStart = r.now
	m.winArr = m.arrivals
	m.winFailed = 0
	m.winLat.Reset()
	m.winLatSum = 0
}

// finish closes the last, partial window and the pods' ready time.
func (m *metrics) finish(r *run) {
	m.end = r.now
	if r.now > m.winStart {
		m.closeWindow(r)
	}
	for i := range r.pods {
		if p := &r.pods[i]; p.inSet {
			p.readyFor += r.now - p.setSince
			p.setSince = r.now
		}
	}
}

// timePicks times a batch of bare picks on a copy of proxy 0's current
// Picker, in the state the run has reached (its endpoints and their
// loads), with keys drawn from the workload. The copy is built by the
// algorithm with a random source of its own, so the timed picks advance
// no cursor and draw no number that the proxies' own picks see: the
// model runs the same with or without timing. The wall clock is read only
// here, and what it reads never feeds back into the model.
func (m *metrics) timePicks(r *run) {
	const batch = 512
	px := &r.proxies[0]
	if m.timing == nil || m.timingVersion != px.version {
		b := r.builder(r.alg.New(balancer.NewSource(r.sc.Seed^0x7069_636b_5f74_696d)), px.zone, r.sc.Seed^0x7a6f_6e65_5f74_696d)
		p, err := b.Build(px.bal.Endpoints())
		if err != nil {
			return // no endpoints: nothing to time
		}
		m.timing, m.timingVersion = p, px.version
	}
	if len(m.timingKeys) == 0 {
		m.timingKeys = make([]balancer.Request, batch)
		for i := range m.timingKeys {
			m.timingKeys[i] = balancer.Request{Hash: r.keys.hashOf(uint64(i) * 2654435761 % uint64(r.keys.count)), HasHash: true}
		}
	}
	p := m.timing
	now := r.unixNano()
	start := time.Now()
	for i := range m.timingKeys {
		req := m.timingKeys[i]
		req.Now = now
		_, _ = p.Pick(req)
	}
	m.pickNanos = append(m.pickNanos, float64(time.Since(start).Nanoseconds())/batch)
}
