package main

import (
	"encoding/json"
	"errors"
	"fmt"
	lbconfig "github.com/lbkit/lbkit/config"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
)

// parseAlgorithm reads the -algorithm flag: a name (config.Names) or a
// JSON object in lbkit's configuration form, such as
// {"algorithm":"ring-hash","minRingSize":4096}.
func parseAlgorithm(s string) (lbconfig.Algorithm, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return lbconfig.ParseJSON([]byte(s))
	}
	return lbconfig.Parse(s)
}

// config is the proxy's configuration, from the command line.
type config struct {
	algorithm  string
	hashHeader string
	// retries is how many times a failed attempt may be sent again to
	// another endpoint, when the failure allows it (see retrier). Zero
	// means never: one try per request.
	retries int
	// connectTimeout bounds each dial to a backend. Zero means no bound
	// but the operating system's.
	connectTimeout time.Duration
	// timeout bounds the wait for a backend's response headers once the
	// request is sent; the body may then stream for as long as it takes.
	// Zero means no bound.
	timeout time.Duration
	// maxIdlePerBackend is how many idle connections to keep open to each
	// backend for reuse. Zero means defaultMaxIdlePerBackend.
	maxIdlePerBackend int
	// health holds the active checks, outlier detection, slow start and
	// panic threshold.
	health healthConfig
	// affinity holds the request key, sticky sessions, cookies and zone
	// routing.
	affinity affinityConfig
}

// proxy is an http.Handler that balances over its backends. It is safe
// for concurrent use by multiple goroutines.
type proxy struct {
	cfg       config
	bal       *balancer.Balancer
	transport *http.Transport // shared by every backend; keeps their idle connections
	rp        *httputil.ReverseProxy
	monitor   *health.Monitor // nil without health features
	aff       *affinityPolicy // the affinity flags; never nil
}

func newProxy(cfg config) (*proxy, error) {
	alg, err := parseAlgorithm(cfg.algorithm)
	if err != nil {
		return nil, err
	}
	b, err := alg.Builder(nil)
	if err != nil {
		return nil, err
	}
	if cfg.retries < 0 {
		return nil, fmt.Errorf("retries is %d; it must be 0 or more", cfg.retries)
	}
	if cfg.hashHeader != "" {
		if cfg.affinity.mode != "" {
			return nil, fmt.Errorf("-hash-header is -affinity header:%s; give one of them", cfg.hashHeader)
		}
		cfg.affinity.mode = "header:" + cfg.hashHeader
	}
	b, err = zoned(cfg.affinity, b)
	if err != nil {
		return nil, err
	}
	aff, err := newAffinity(cfg.affinity, b)
	if err != nil {
		return nil, err
	}
	p := &proxy{cfg: cfg, bal: balancer.New(b), transport: newTransport(cfg), aff: aff}
	hc, err := cfg.health.monitorConfig()
	if err != nil {
		return nil, err
	}
	if cfg.health.on() || hc.PanicThreshold > 0 {
		if p.monitor, err = health.New(p.bal, hc, 0); err != nil {
			return nil, err
		}
	}
	p.rp = &httputil.ReverseProxy{
		// The retrier sets the URL of each attempt to the endpoint it
		// picks, as SetURL would.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			aff.rewrite(pr)
		},
		Transport:    &retrier{bal: p.bal, next: p.transport, aff: aff, retries: cfg.retries},
		ErrorHandler: p.fail,
		BufferPool:   &bufferPool{},
	}
	return p, nil
}

// bufferPool lends ReverseProxy the buffers it copies response bodies
// through, instead of a new 32 KiB buffer for every request. It is safe
// for concurrent use by multiple goroutines.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// setBackends replaces the backend set: in a real proxy, whenever
// discovery (an EndpointSlice watch, DNS) reports a change. Picks in
// flight are not disturbed, and each backend that stays keeps its
// counters.
func (p *proxy) setBackends(urls []string) error {
	var bs []balancer.Backend
	for _, raw := range urls {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		raw, zone := backendZone(raw)
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("backend %q is not a URL such as http://10.0.0.7:8080 or http://10.0.0.7:8080@zone-a", raw)
		}
		bs = append(bs, balancer.Backend{ID: u.Host, Addr: raw, Zone: zone})
	}
	if len(bs) == 0 {
		return errors.New("no backends: give -backends")
	}
	return p.bal.Update(bs)
}

// ServeHTTP proxies the request. The retrier picks the backend of each
// attempt and reports every attempt's outcome back to the balancer.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.rp.ServeHTTP(w, r)
}

// fail answers a request that got no response from any backend: 503 when
// there is no backend, 504 when the last attempt timed out, 502 otherwise.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, balancer.ErrNoEndpoints):
		http.Error(w, "no backend available", http.StatusServiceUnavailable)
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		w.WriteHeader(http.StatusBadGateway)
	case isTimeout(err):
		log.Printf("httpproxy: %s %s: %v", r.Method, r.URL, err)
		http.Error(w, "backend timed out", http.StatusGatewayTimeout)
	default:
		log.Printf("httpproxy: %s %s: %v", r.Method, r.URL, err)
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}
}

// endpointStatus is one backend's live counters and health, as /lbz
// shows them.
type endpointStatus struct {
	ID string `json:"id"`
	// Weight is the weight it serves with, relative to the others' (slow
	// start scales them all while a backend ramps up); 0 when not serving.
	Weight    uint32  `json:"weight"`
	InFlight  int64   `json:"inFlight"`
	Completed uint64  `json:"completed"`
	Failures  uint64  `json:"failures"`
	LatencyMS float64 `json:"latencyMs"`
	// Healthy says whether the backend may serve; Serving whether the
	// current picker may choose it (healthy, or in panic).
	Healthy bool `json:"healthy"`
	Serving bool `json:"serving"`
	// Down says its active checks fail; LastCheckError is the last
	// failure's error.
	Down           bool   `json:"down,omitempty"`
	LastCheckError string `json:"lastCheckError,omitempty"`
	// Ejected says outlier detection took it out, by EjectedBy, until
	// ReturnsAt; Ejections counts the times it was ejected.
	Ejected   bool       `json:"ejected,omitempty"`
	EjectedBy string     `json:"ejectedBy,omitempty"`
	ReturnsAt *time.Time `json:"returnsAt,omitempty"`
	Ejections int        `json:"ejections"`
	// SlowStart is its slow-start factor: 1 at full weight.
	SlowStart float64 `json:"slowStart"`
}

// affinityStatus is the affinity part of /lbz.
type affinityStatus struct {
	// Mode is the -affinity flag.
	Mode string `json:"mode"`
	// Sticky is the sticky table; nil when there is none (cookie
	// sessions, or a hash algorithm).
	Sticky *stickyStatus `json:"sticky,omitempty"`
}

// stickyStatus is the sticky table's occupancy.
type stickyStatus struct {
	// Sessions is the table's Len: its live sessions, and those expired
	// or on an unusable backend that nothing has replaced yet.
	Sessions int `json:"sessions"`
	// Capacity is its Cap.
	Capacity int `json:"capacity"`
	// Evictions counts the live sessions evicted for room: a table that
	// keeps evicting is too small.
	Evictions uint64 `json:"evictions"`
}

// lbz is the whole /lbz answer.
type lbz struct {
	Algorithm string `json:"algorithm"`
	// Affinity is nil when -affinity is off.
	Affinity  *affinityStatus  `json:"affinity,omitempty"`
	Healthy   int              `json:"healthy"`
	Down      int              `json:"down"`
	Ejected   int              `json:"ejected"`
	Panic     bool             `json:"panic"`
	Endpoints []endpointStatus `json:"endpoints"`
}

func (p *proxy) status(w http.ResponseWriter, _ *http.Request) {
	out := lbz{Algorithm: p.cfg.algorithm, Endpoints: []endpointStatus{}}
	if m := p.cfg.affinity.mode; m != "" {
		out.Affinity = &affinityStatus{Mode: m}
		if s := p.aff.sticky; s != nil {
			out.Affinity.Sticky = &stickyStatus{Sessions: s.Len(), Capacity: s.Cap(), Evictions: s.Evictions()}
		}
	}
	serving := map[string]bool{}
	for _, e := range p.bal.Serving() {
		serving[e.ID] = true
	}
	var st health.Status
	if p.monitor != nil {
		st = p.monitor.Status()
		out.Down, out.Ejected, out.Panic = st.Down, st.Ejected, st.Panic
	}
	for i, e := range p.bal.Endpoints() {
		h := e.Health()
		es := endpointStatus{
			ID: e.ID, Weight: e.Weight, InFlight: e.InFlight(), Completed: e.Completed(),
			Failures: e.Failures(), LatencyMS: float64(e.Latency(0)) / 1e6,
			Healthy: h.Healthy(), Serving: serving[e.ID], Down: h.Down,
			Ejected: h.Ejected, Ejections: h.Ejections, SlowStart: 1,
		}
		if h.Ejected {
			t := time.Unix(0, h.EjectedUntil).UTC()
			es.ReturnsAt = &t
		}
		if i < len(st.Endpoints) && st.Endpoints[i].ID == e.ID {
			s := st.Endpoints[i]
			es.EjectedBy, es.SlowStart, es.LastCheckError = s.Reason.String(), s.SlowStart, s.Active.LastError
			es.Weight = s.Weight
		}
		if es.Healthy {
			out.Healthy++
		}
		out.Endpoints = append(out.Endpoints, es)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
