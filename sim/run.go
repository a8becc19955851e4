package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
	"github.com/lbkit/lbkit/sim/trace"
)

// epoch is the Unix time in nanoseconds the virtual clock starts at, for
// the library's time-taking calls (Request.Now, DoneInfo.Now).
const epoch = 1_000_000_000 * int64(time.Second)

// unixNano returns the virtual time as Unix nanoseconds.
func (r *run) unixNano() int64 { return epoch + int64(r.now) }

var (
	errRefused = errors.New("sim: connection refused: the pod is gone or stopping")
	errKilled  = errors.New("sim: the pod died with the request in flight")
	errFull    = errors.New("sim: the pod's queue is full")
)

// try is one attempt at a request: what a proxy needs to pick for it
// again on a retry.
type try struct {
	arrival time.Duration // when the request first arrived
	hash    uint64
	unit    float64 // the service demand's quantile, the same on every try
	session int32   // -1: none
	proxy   int32
	attempt int32 // balancer.Request.Attempt
}

// request is one request in flight.
type request struct {
	try
	pod       int32
	gen       int32     // bumped each time the slot is reused, to drop a stale timeout
	fault     faultKind // its pod's fault when it was sent: it is failing or hung, not served
	cross     bool      // its pod is in another zone than its proxy
	cancelled bool      // its pod died; its completion event is void
	timedOut  bool      // the proxy gave up on it: its completion is void, but for the pod
	live      bool      // the slot is in use
	res       balancer.Result
}

// session is a client that sends several requests under one key.
type session struct {
	hash      uint64
	seq       uint64 // the workload's arrival number that started it
	sent      uint32 // requests sent so far
	remaining int
	lastPod   int32
	lastPodID int    // the serial of lastPod's pod, as pod slots are reused
	proxy     int32  // the proxy of its first request: with ClientIP affinity, of all
	cookie    string // the session cookie it was given (Cookie affinity)
	live      bool
}

// proxy is one load balancer with its own view of the endpoints.
type proxy struct {
	zone      string // empty: none
	bal       *balancer.Balancer
	h         *proxyHealth     // its health Monitor; nil without health features
	sticky    *affinity.Sticky // its ClientIP table; nil without ClientIP affinity
	version   int              // endpoint version applied
	lastSched time.Duration    // when its latest update is due, to keep order
	updated   bool             // it has applied a version
}

// run is one scenario run with one algorithm. It is single-threaded and
// reads no clock: everything follows from the seed.
type run struct {
	sc   *Scenario
	alg  Algorithm
	opts Options
	now  time.Duration
	q    queue

	// The run's randomness comes in independent streams, so that what
	// the algorithm does cannot shift what the workload and the cluster
	// do: every algorithm of a replication sees the same arrivals, keys,
	// service demands and churn (common random numbers).
	rng     *rand.Rand // the cluster: readiness, crashes, slow pods, propagation
	frng    *rand.Rand // the cluster's faults, on their own so that they shift no other draw
	arr     *rand.Rand // the workload's arrivals, keys and session lengths
	reqSeed uint64     // seeds each request's own draws (reqDraws)
	seq     uint64     // arrivals so far: the next one's number
	// arrEpoch numbers the pending arrival; a change of rate draws a new
	// one and voids the old (Workload.RatePerEndpoint).
	arrEpoch int32

	pods        []pod   // by slot; a gone pod's slot is reused (retire)
	freePods    []int32 // slots of gone pods
	podsCreated int
	byID        map[string]int32
	services    []sampler // service-time samplers, by template generation
	gen         int
	desired     int
	zones       []string
	nextZone    int
	nextIP      int
	crash       *CrashAction // crashes in force, or nil
	faults      faultState   // pod faults (fault.go)
	err         error        // the first error; it stops the run
	killed      []try        // requests failAll took from a dead pod, to retry

	nextReport time.Duration // virtual time of the next progress report
	wallReport time.Time     // wall time of the last progress report
	events     uint64        // events handled, for progress reports

	versions versions
	dirty    bool
	capNow   float64 // the nominal capacity of the endpoint set, requests a second
	setSize  int     // the pods in the endpoint set
	proxies  []proxy

	reqs         []request
	freeReqs     []int32
	sessions     []session
	freeSess     []int32
	liveSessions int
	rate         float64
	keys         keySampler
	think        sampler
	readiness    sampler
	propagate    sampler
	sessMean     float64

	actions []action

	// health features (healthrun.go)
	probes     []probeTask
	freeProbes []int32
	due        []*balancer.Endpoint
	detected   map[detectKey]struct{}
	ejected    []int32 // proxies an ejection rebuilt during the event (settleHealth)

	cookies *affinity.Cookies // session cookies; nil without Cookie affinity

	// the trace being replayed, if any, and its next event
	trace     EventSource
	traceNext trace.Event
	traceOK   bool
	m         *metrics
}

// Run runs the scenario once with one algorithm and returns its result.
func Run(sc Scenario, alg Algorithm, opts Options) (*Result, error) {
	if _, err := sc.prepare(Options{}); err != nil {
		return nil, err
	}
	if err := sc.work([]Algorithm{alg}, 1).Check(opts.MaxWork); err != nil {
		return nil, err
	}
	return run1(&sc, alg, opts)
}

// run1 runs a prepared scenario once.
func run1(sc *Scenario, alg Algorithm, opts Options) (*Result, error) {
	if opts.DisruptionKeys <= 0 {
		opts.DisruptionKeys = 4096
	}
	r, err := newRun(sc, alg, opts)
	if err != nil {
		return nil, err
	}
	r.loop()
	if r.err != nil {
		return nil, r.err
	}
	res := r.m.result(r)
	if opts.Progress != nil {
		opts.Progress(1)
	}
	return res, nil
}

// Stream identifiers of the run's generators (PCG's second seed word).
const (
	streamCluster  = 0x6c62_6b69_745f_7369
	streamWorkload = 0x776f_726b_6c6f_6164
	streamRequests = 0x7265_7175_6573_7473
	streamMetrics  = 0x6d65_7472_6963_7321
	streamBalancer = 0x9e37_79b9_7f4a_7c15
	streamFaults   = 0x6661_756c_7473_2121
	streamHealth   = 0x6865_616c_7468_2121
	streamZones    = 0x7a6f_6e65_7321_2121
)

func newRun(sc *Scenario, alg Algorithm, opts Options) (*run, error) {
	r := &run{sc: sc, alg: alg, opts: opts, byID: map[string]int32{}}
	r.rng = rand.New(rand.NewPCG(sc.Seed, streamCluster))
	r.frng = rand.New(rand.NewPCG(sc.Seed, streamFaults))
	r.arr = rand.New(rand.NewPCG(sc.Seed, streamWorkload))
	r.reqSeed = xrand.Mix64(sc.Seed ^ streamRequests)
	r.zones = append([]string(nil), sc.Deployment.Zones...)
	t := &sc.Deployment.Template
	r.services = []sampler{newSampler(t.ServiceTime, nil)}
	r.think = newSampler(sc.Workload.Sessions.ThinkTime, nil)
	r.readiness = newSampler(t.ReadinessDelay, r.rng)
	r.propagate = newSampler(sc.Proxies.PropagationDelay, r.rng)
	r.sessMean = sc.Workload.Sessions.Requests
	r.keys = newKeySampler(sc.Workload.Keys, r.arr)
	r.rate = sc.Workload.Rate
	r.desired = sc.Deployment.Replicas

	balSeed := sc.Seed ^ streamBalancer
	for i := range sc.Proxies.Replicas {
		px := proxy{}
		if zs := sc.Proxies.Zones; len(zs) > 0 {
			px.zone = zs[i%len(zs)]
		}
		b := balancer.New(r.builder(alg.New(balancer.NewSource(balSeed+uint64(i))), px.zone, xrand.Mix64(balSeed^streamZones+uint64(i))))
		px.bal = b
		st, err := r.newSticky()
		if err != nil {
			return nil, err
		}
		px.sticky = st
		r.proxies = append(r.proxies, px)
		if err := r.newHealth(i, b, xrand.Mix64(balSeed^streamHealth+uint64(i))); err != nil {
			return nil, err
		}
	}
	if err := r.newAffinity(); err != nil {
		return nil, err
	}
	r.m = newMetrics(r, rand.New(rand.NewPCG(sc.Seed, streamMetrics)))

	actions, err := r.planChurn()
	if err != nil {
		return nil, err
	}
	r.actions = actions
	r.trace = sc.traceSource()
	return r, nil
}

// reqDraws returns the random choices of request j of arrival seq (a
// session's requests are numbered from 0; a lone request is 0): the
// proxy it goes through and the quantile of its service demand; and
// thinkDraw the quantile of the think time after it. They are a pure
// function of the seed and the request's place in the workload, not of
// when the run happens to draw them, so every algorithm sees the same.
func (r *run) reqDraws(seq uint64, j uint32) (proxy int32, service float64) {
	x := xrand.Mix64(r.reqSeed + seq*0x9e37_79b9_7f4a_7c15 + uint64(j)*0xd1b5_4a32_d192_ed03)
	proxy = int32((x >> 32) * uint64(len(r.proxies)) >> 32)
	x = xrand.Mix64(x + 0x9e37_79b9_7f4a_7c15)
	return proxy, float64(x>>11) / (1 << 53)
}

func (r *run) thinkDraw(seq uint64, j uint32) float64 {
	x := xrand.Mix64(r.reqSeed ^ 0x7468_696e_6b21 + seq*0x9e37_79b9_7f4a_7c15 + uint64(j)*0xd1b5_4a32_d192_ed03)
	return float64(x>>11) / (1 << 53)
}

// loop runs the scenario: arrivals and churn until Duration, then, with
// arrivals and churn stopped, the requests still in flight drain for at
// most Scenario.Drain. What is still unfinished then is counted as such.
func (r *run) loop() {
	r.bootstrap()
	end := r.sc.Duration.Std()
	stop := end + r.sc.Drain.Std()
	r.scheduleArrival()
	for i, st := range r.sc.Workload.Steps {
		r.q.push(st.At.Std(), evRate, int32(i), 0, 0)
	}
	for i := range r.actions {
		r.q.push(r.actions[i].at, evController, int32(i), 0, 0)
	}
	r.q.push(r.m.window, evWindow, 0, 0, 0)
	r.wallReport = time.Now()
	ended := false
	for r.q.len() > 0 && r.err == nil {
		if !ended && r.q.items[0].at > end {
			r.now = end
			r.m.finish(r)
			ended = true
		}
		if ended && r.m.pending() == 0 {
			break
		}
		ev := r.q.pop()
		if ev.at > stop {
			r.now = stop
			break
		}
		r.now = ev.at
		r.handle(ev, ended)
		if len(r.ejected) > 0 {
			r.settleHealth()
		}
		if r.q.len() == 0 || r.q.items[0].at > r.now {
			if r.dirty {
				r.publish()
			}
			if r.opts.instant != nil && r.q.len() > 0 && r.q.items[0].at > r.now {
				r.opts.instant(r)
			}
		}
		r.events++
		if r.opts.Progress != nil && (r.now >= r.nextReport || r.events&4095 == 0 && time.Since(r.wallReport) > 100*time.Millisecond) {
			r.opts.Progress(min(float64(r.now)/float64(end), 1))
			r.nextReport = r.now + end/100
			r.wallReport = time.Now()
		}
	}
	if !ended {
		r.now = max(r.now, end)
		r.m.finish(r)
	}
	if r.q.len() == 0 && r.m.pending() > 0 {
		r.now = max(r.now, stop) // hung requests wait, with nothing else to happen, until the drain ends
	}
	r.m.drained(r)
}

// handle carries out one event. Once the run has ended, only what lets
// the requests in flight finish goes on: no arrivals, no session's next
// request, no churn, no windows.
func (r *run) handle(ev event, ended bool) {
	switch ev.kind {
	case evArrival:
		if !ended && ev.a == r.arrEpoch {
			r.arrive()
		}
	case evSessionNext:
		if ended {
			r.endSession(ev.a)
		} else {
			r.send(ev.a)
		}
	case evComplete:
		r.complete(ev.a)
	case evProxyUpdate:
		r.applyUpdate(int(ev.a), int(ev.b))
	case evPod:
		r.podStep(ev.a, ev.b, ev.c)
	case evRate:
		if !ended {
			r.setRate(r.sc.Workload.Steps[ev.a].Rate)
		}
	case evController:
		if !ended {
			r.act(int(ev.a), ev.b)
		}
	case evTrace:
		if !ended {
			r.traceStep()
		}
	case evWindow:
		if !ended {
			r.m.closeWindow(r)
			r.q.push(r.now+r.m.window, evWindow, 0, 0, 0)
		}
	case evFault:
		if !ended {
			r.randomFault(ev.a, ev.b, ev.c)
		}
	case evFaultEnd:
		r.endFault(ev.a, ev.b)
	case evTimeout:
		r.timeout(ev.a, ev.b)
	case evHealth:
		r.healthStep(ev.a, ev.b)
	case evProbe:
		r.probeDone(ev.a)
	}
}

// bootstrap starts the initial pods ready (the Deployment's, or the
// trace's state at its first instant), and every proxy knowing them, so a
// run begins in steady state.
func (r *run) bootstrap() {
	r.startTrace()
	for range r.desired {
		i := r.createPod()
		p := &r.pods[i]
		p.state = podReady
		p.readyAt = -time.Hour // long past warm-up
		// Its readiness step, drawn by createPod, is void: it is ready
		// already (and must not start warming up when the step comes).
		p.epoch++
		r.setInSet(i, true)
	}
	r.dirty = false
	set := r.endpointSet()
	r.versions.add(set)
	for i := range r.proxies {
		r.applyUpdate(i, 0)
	}
	if pe := r.sc.Workload.RatePerEndpoint; pe > 0 {
		r.rate = pe * float64(len(set))
	}
}

// followSet sets the rate for an endpoint set of n when the rate follows
// the set.
func (r *run) followSet(n int) {
	if pe := r.sc.Workload.RatePerEndpoint; pe > 0 && r.now < r.sc.Duration.Std() {
		r.setRate(pe * float64(n))
	}
}

// setRate changes the arrival rate from now on: a step of the workload,
// or the endpoint set the rate follows. The pending arrival is voided and
// the next drawn at the new rate, which a Poisson process allows (it is
// memoryless).
func (r *run) setRate(rate float64) {
	if rate == r.rate {
		return
	}
	r.rate = rate
	r.arrEpoch++
	r.scheduleArrival()
}

// scheduleArrival draws the next Poisson arrival at the current rate.
func (r *run) scheduleArrival() {
	if r.rate <= 0 {
		return
	}
	perArrival := max(r.sessMean, 1) // requests an arrival brings: a session brings several
	gap := r.arr.ExpFloat64() * perArrival / r.rate * float64(time.Second)
	if gap >= float64(math.MaxInt64-r.now) {
		return // beyond the end of time
	}
	r.q.push(r.now+time.Duration(gap), evArrival, r.arrEpoch, 0, 0)
}

func (r *run) arrive() {
	r.scheduleArrival()
	seq := r.seq
	r.seq++
	if r.sessMean > 1 {
		s := r.newSession(seq)
		r.send(s)
		return
	}
	r.dispatch(r.keys.hash(), -1, seq, 0)
}

func (r *run) newSession(seq uint64) int32 {
	var s int32
	if n := len(r.freeSess); n > 0 {
		s, r.freeSess = r.freeSess[n-1], r.freeSess[:n-1]
	} else {
		r.sessions = append(r.sessions, session{})
		s = int32(len(r.sessions) - 1)
	}
	// A geometric number of requests with the configured mean.
	n := 1 + int(math.Floor(math.Log(1-r.arr.Float64())/math.Log(1-1/r.sessMean)))
	r.sessions[s] = session{hash: r.keys.hash(), seq: seq, remaining: max(n, 1), lastPod: -1, live: true}
	r.liveSessions++
	r.m.sessionsStarted++
	return s
}

// send sends a session's next request.
func (r *run) send(s int32) {
	ss := &r.sessions[s]
	ss.remaining--
	j := ss.sent
	ss.sent++
	r.dispatch(ss.hash, s, ss.seq, j)
}

// dispatch routes a new request, request j of arrival seq, through its
// proxy.
func (r *run) dispatch(hash uint64, s int32, seq uint64, j uint32) {
	r.m.arrivals++
	proxy, unit := r.reqDraws(seq, j)
	if s >= 0 {
		ss := &r.sessions[s]
		switch {
		case j == 0:
			ss.proxy = proxy
		case r.sc.Proxies.SessionAffinity != nil && r.sc.Proxies.SessionAffinity.Type == AffinityClientIP:
			proxy = ss.proxy // a client goes through its node's proxy
		case len(r.sc.Proxies.Zones) > 0:
			proxy = r.sameZone(ss.proxy, proxy) // a client stays in its zone
		}
	}
	r.attempt(try{arrival: r.now, hash: hash, unit: unit, session: s, proxy: proxy})
}

// sameZone maps a request's proxy draw to a proxy in the zone of proxy
// first: proxies are spread over the zones round robin, so those of
// first's zone are first mod k, first mod k + k, ...
func (r *run) sameZone(first, draw int32) int32 {
	k := int32(len(r.sc.Proxies.Zones))
	base := first % k
	n := (int32(len(r.proxies)) - base + k - 1) / k
	return base + k*(draw%n)
}

// sessionGoesOn schedules a session's next request after the think time
// that follows its last one, whether that succeeded or failed (a client
// moves on), or ends the session when it has sent them all.
func (r *run) sessionGoesOn(s int32) {
	if s < 0 {
		return
	}
	ss := &r.sessions[s]
	if !ss.live {
		return
	}
	if ss.remaining <= 0 {
		r.endSession(s)
		return
	}
	think := r.thinkDraw(ss.seq, ss.sent-1)
	r.q.push(r.now+r.think.at(think), evSessionNext, s, 0, 0)
}

// attempt picks a pod for one try of a request, on the try's proxy, and
// hands the request to it.
func (r *run) attempt(t try) {
	px := &r.proxies[t.proxy]
	res, cookie, err := r.pick(px, t)
	if err != nil {
		r.m.fail(failNoEndpoints)
		r.sessionGoesOn(t.session)
		return
	}
	pi, ok := r.byID[res.Endpoint.ID]
	if !ok || !r.pods[pi].accepting() {
		res.Done(balancer.DoneInfo{Err: errRefused, Failure: balancer.GatewayFailure, Now: r.unixNano()})
		r.retryOrFail(t, failRefused)
		return
	}
	p := &r.pods[pi]
	p.winRequests++
	p.requests++
	faulty := p.fault != faultNone // a faulty pod's requests take no worker nor room in the queue
	if !faulty && r.sc.Deployment.Template.QueueLimit > 0 && p.busy >= p.workers && p.queued() >= r.sc.Deployment.Template.QueueLimit {
		res.Done(balancer.DoneInfo{Err: errFull, Failure: balancer.GatewayFailure, Now: r.unixNano()})
		r.retryOrFail(t, failQueueFull)
		return
	}
	if s := t.session; s >= 0 {
		ss := &r.sessions[s]
		if ss.lastPod >= 0 {
			r.m.sessionFollowUps++
			if ss.lastPod != pi || ss.lastPodID != p.serial {
				r.m.sessionMoves++
				if !r.canServe(ss.lastPod, ss.lastPodID) {
					r.m.sessionForced++ // it had to move
				}
			}
		}
		ss.lastPod, ss.lastPodID = pi, p.serial
		if cookie {
			r.setCookie(s, res.Endpoint)
		}
	}
	cross := px.zone != "" && p.zone != px.zone
	if cross {
		r.m.crossZone++
	}
	r.m.zoned += int64(boolInt(px.zone != ""))
	ri := r.newRequest(request{try: t, pod: pi, res: res, live: true, cross: cross})
	r.armTimeout(ri)
	p.touch(r.now)
	switch {
	case faulty:
		r.faultRequest(pi, ri)
	case p.busy < p.workers:
		r.serve(pi, ri)
	default:
		p.enqueue(ri)
	}
}

// retryOrFail retries a failed try on the same proxy with the next
// Attempt, as a proxy's retry policy does, or counts the request failed
// when the retries are spent.
func (r *run) retryOrFail(t try, reason string) {
	if int(t.attempt) < r.sc.Proxies.Retries {
		t.attempt++
		r.m.retries++
		r.attempt(t)
		return
	}
	r.m.fail(reason)
	r.sessionGoesOn(t.session)
}

func (r *run) newRequest(q request) int32 {
	if n := len(r.freeReqs); n > 0 {
		i := r.freeReqs[n-1]
		r.freeReqs = r.freeReqs[:n-1]
		q.gen = r.reqs[i].gen + 1
		r.reqs[i] = q
		return i
	}
	r.reqs = append(r.reqs, q)
	return int32(len(r.reqs) - 1)
}

// serve starts a request on a free worker of pod pi.
func (r *run) serve(pi, ri int32) {
	p := &r.pods[pi]
	p.busy++
	speed := p.speed
	if w := r.sc.Deployment.Template.Warmup.Std(); w > 0 && r.now < p.readyAt+w {
		speed *= r.sc.Deployment.Template.WarmupSpeed
	}
	d := time.Duration(float64(r.services[p.service].at(r.reqs[ri].unit)) / speed)
	r.q.push(r.now+d, evComplete, ri, 0, 0)
}

func (r *run) complete(ri int32) {
	q := r.reqs[ri]
	r.freeRequest(ri)
	if q.cancelled {
		return
	}
	if q.fault == faultFail {
		r.failFast(q)
		return
	}
	if !q.timedOut {
		lat := r.now - q.arrival + r.crossDelay(q.cross)
		q.res.Done(balancer.DoneInfo{Latency: lat, Now: r.unixNano()})
		r.m.success(lat)
	}
	p := &r.pods[q.pod]
	p.touch(r.now)
	p.busy--
	if p.queued() > 0 {
		r.serve(q.pod, p.dequeue())
	}
	if p.state == podDraining && p.load() == 0 {
		r.setState(q.pod, podGone)
	}
	if !q.timedOut {
		r.sessionGoesOn(q.session)
	}
}

// fail stops the run with err.
func (r *run) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *run) freeRequest(i int32) {
	r.reqs[i].live = false
	r.freeReqs = append(r.freeReqs, i)
}

func (r *run) endSession(s int32) {
	if s < 0 || !r.sessions[s].live {
		return
	}
	r.sessions[s].live = false
	r.liveSessions--
	r.freeSess = append(r.freeSess, s)
}

// failAll fails every request a pod holds: it crashed or was killed.
// Each is retried, or counted failed, once the pod's state is settled.
func (r *run) failAll(pi int32) {
	p := &r.pods[pi]
	p.touch(r.now)
	var retry []try
	for i := range r.reqs {
		q := &r.reqs[i]
		if q.live && q.pod == pi && !q.cancelled {
			q.cancelled = true
			if !q.timedOut { // the proxy has already failed a timed-out one
				q.res.Done(balancer.DoneInfo{Err: errKilled, Failure: balancer.GatewayFailure, Now: r.unixNano()})
				retry = append(retry, q.try)
			}
			if q.fault == faultHang {
				r.freeRequest(int32(i)) // a hung request has no completion event
			}
		}
	}
	// Queued requests have no completion event: free them now. Those in
	// service, and those failing, are freed when their void completion
	// event comes.
	for p.queued() > 0 {
		r.freeRequest(p.dequeue())
	}
	p.busy = 0
	p.held = 0
	r.killed = append(r.killed[:0], retry...)
}

// retryKilled retries or fails the requests failAll collected.
func (r *run) retryKilled() {
	for _, t := range r.killed {
		r.retryOrFail(t, failKilled)
	}
	r.killed = r.killed[:0]
}

// canServe reports whether the pod of the given serial, once in slot pi,
// could still serve a session's request: it is in the endpoint set, up
// and not faulty. A session whose pod cannot must move (the optimum);
// any other move is the routing's doing.
func (r *run) canServe(pi int32, serial int) bool {
	p := &r.pods[pi]
	return p.serial == serial && p.inSet && p.state == podReady && p.fault == faultNone
}

// crossDelay is the latency a request's trip to another zone adds.
func (r *run) crossDelay(cross bool) time.Duration {
	if cross {
		return r.sc.Proxies.CrossZoneLatency.Std()
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
