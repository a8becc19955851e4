package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/leastconn"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/random"
	"github.com/lbkit/lbkit/ringhash"
	"github.com/lbkit/lbkit/roundrobin"
)

// algorithm is one choice of the -algorithm flag. A proxy would read
// this from its own configuration.
type algorithm struct {
	name string
	b    balancer.Builder
}

func algorithms() []algorithm {
	return []algorithm{
		{"round-robin", roundrobin.Config{}},
		{"random", random.Config{}},
		{"least-request", leastconn.Config{}},
		{"peak-ewma", leastconn.Config{PeakEWMA: true}},
		{"ring-hash", ringhash.Config{}},
		{"ring-hash-bounded", ringhash.Config{BalanceFactor: 1.25}},
		{"maglev", maglev.Config{}},
		{"maglev-bounded", maglev.Config{BalanceFactor: 1.25}},
	}
}

func algorithmNames() []string {
	var names []string
	for _, a := range algorithms() {
		names = append(names, a.name)
	}
	return names
}

type config struct {
	algorithm  string
	hashHeader string
}

// proxy is an http.Handler that balances over its backends.
type proxy struct {
	cfg config
	bal *balancer.Balancer
	rp  *httputil.ReverseProxy
}

type pickKey struct{}

// errStatus marks a 5xx response as a failure for the balancer.
var errStatus = errors.New("httpproxy: backend answered 5xx")

func newProxy(cfg config) (*proxy, error) {
	var b balancer.Builder
	for _, a := range algorithms() {
		if a.name == cfg.algorithm {
			b = a.b
		}
	}
	if b == nil {
		return nil, fmt.Errorf("unknown algorithm %q; valid: %s", cfg.algorithm, strings.Join(algorithmNames(), ", "))
	}
	p := &proxy{cfg: cfg, bal: balancer.New(b)}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			e := pr.In.Context().Value(pickKey{}).(*balancer.Endpoint)
			u, _ := url.Parse(e.Addr) // checked by setBackends
			pr.SetURL(u)
			pr.SetXForwarded()
		},
	}
	return p, nil
}

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
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("backend %q is not a URL such as http://10.0.0.7:8080", raw)
		}
		bs = append(bs, balancer.Backend{ID: u.Host, Addr: raw})
	}
	if len(bs) == 0 {
		return errors.New("no backends: give -backends")
	}
	return p.bal.Update(bs)
}

// ServeHTTP picks a backend, proxies the request to it and reports the
// outcome back to the balancer.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := balancer.Request{}
	if h := p.cfg.hashHeader; h != "" {
		if key := r.Header.Get(h); key != "" {
			req = balancer.KeyRequest(key)
		}
	}
	res, err := p.bal.Pick(req)
	if err != nil {
		http.Error(w, "no backend available", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), pickKey{}, res.Endpoint)))
	var done error
	if rec.status >= 500 {
		done = errStatus
	}
	res.Done(balancer.DoneInfo{Err: done, Latency: time.Since(start)})
}

// statusRecorder remembers the status the proxy wrote (502 when the
// backend could not be reached).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// endpointStatus is one backend's live counters, as /lbz shows them.
type endpointStatus struct {
	ID        string  `json:"id"`
	Weight    uint32  `json:"weight"`
	InFlight  int64   `json:"inFlight"`
	Completed uint64  `json:"completed"`
	Failures  uint64  `json:"failures"`
	LatencyMS float64 `json:"latencyMs"`
}

func (p *proxy) status(w http.ResponseWriter, _ *http.Request) {
	var out []endpointStatus
	for _, e := range p.bal.Endpoints() {
		out = append(out, endpointStatus{
			ID: e.ID, Weight: e.Weight, InFlight: e.InFlight(), Completed: e.Completed(),
			Failures: e.Failures(), LatencyMS: float64(e.Latency(0)) / 1e6,
		})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
