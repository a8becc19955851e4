package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
)

// healthConfig is the health part of the proxy's configuration.
type healthConfig struct {
	// path is the HTTP path of the active check; empty means a TCP connect
	// when interval is set, no active check otherwise.
	path string
	// interval between active checks of a backend; zero means 2 s when
	// path is set, no active check otherwise.
	interval time.Duration
	// rise and fall are the active check's thresholds; zero means 2 and 3.
	rise, fall int
	// outlier turns on outlier detection with Envoy's defaults.
	outlier bool
	// ejectionTime is the outlier detection's base ejection time; zero
	// means Envoy's 30 s.
	ejectionTime time.Duration
	// slowStart is the slow-start window; zero means none.
	slowStart time.Duration
	// panicThreshold is the healthy panic threshold in percent; 0 turns
	// it off (as in Envoy).
	panicThreshold float64
}

// on reports whether any feature that needs a Monitor is on. The panic
// threshold alone needs none: nothing marks a backend unhealthy.
func (h healthConfig) on() bool {
	return h.path != "" || h.interval > 0 || h.outlier || h.slowStart > 0
}

// monitorConfig returns the health.Config of h.
func (h healthConfig) monitorConfig() (health.Config, error) {
	var cfg health.Config
	switch p := h.panicThreshold; {
	case p < 0 || p > 100 || p != p:
		return cfg, fmt.Errorf("-panic-threshold is %v; it must be a percentage from 0 (off) to 100", p)
	case p == 0:
		cfg.PanicThreshold = -1
	default:
		cfg.PanicThreshold = p
	}
	if h.interval < 0 {
		return cfg, fmt.Errorf("-health-interval is %v; it must be positive", h.interval)
	}
	if h.path != "" || h.interval > 0 {
		a := health.ActiveConfig{Interval: h.interval, HealthyThreshold: h.rise, UnhealthyThreshold: h.fall}
		if h.path != "" {
			hp := health.HTTPProbe{Path: h.path}
			if err := hp.Validate(); err != nil {
				return cfg, fmt.Errorf("-health-path: %w", err)
			}
			a.Probe = urlProbe{hp}
		} else {
			a.Probe = urlProbe{}
		}
		if err := a.Validate(); err != nil {
			return cfg, err
		}
		cfg.Active = &a
	}
	if h.ejectionTime < 0 {
		return cfg, fmt.Errorf("-ejection-time is %v; it must be 0 (30s) or positive", h.ejectionTime)
	}
	if h.outlier {
		cfg.Outlier = &health.OutlierDetection{BaseEjectionTime: h.ejectionTime}
	}
	if h.slowStart < 0 {
		return cfg, fmt.Errorf("-slow-start is %v; it must be 0 (off) or positive", h.slowStart)
	}
	if h.slowStart > 0 {
		cfg.SlowStart = &health.SlowStart{Window: h.slowStart}
	}
	return cfg, nil
}

// urlProbe checks a backend whose Addr is a URL (as the proxy's are): an
// HTTP GET of the probe's path on the URL's scheme and host, or a TCP
// connect to the host when http is the zero HTTPProbe.
type urlProbe struct{ http health.HTTPProbe }

func (p urlProbe) Check(ctx context.Context, e *balancer.Endpoint) error {
	u, err := url.Parse(e.Addr)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host += ":" + port
	}
	at := *e
	at.Addr = host
	if p.http.Path == "" {
		return health.TCPProbe{}.Check(ctx, &at)
	}
	hp := p.http
	hp.Scheme = u.Scheme
	return hp.Check(ctx, &at)
}

// startHealth starts the proxy's Monitor, if it has one.
func (p *proxy) startHealth(ctx context.Context) error {
	if p.monitor == nil {
		return nil
	}
	return p.monitor.Start(ctx)
}

// Close stops the proxy's health checks and closes its idle backend
// connections.
func (p *proxy) Close() error {
	var err error
	if p.monitor != nil {
		err = p.monitor.Close()
	}
	p.transport.CloseIdleConnections()
	return err
}
