package main

import (
	"net"
	"net/http"
	"time"
)

// defaultMaxIdlePerBackend is the number of idle connections kept open to
// each backend unless -max-idle-per-backend says otherwise. It must be at
// least the number of requests one backend serves at once: beyond it a
// connection is closed when its request ends and the next request dials a
// new one. net/http's default of 2 (http.DefaultMaxIdleConnsPerHost) made
// 37-47% of the requests dial anew under 32 concurrent clients. 256 covers
// every client of a hash algorithm landing on one backend at several
// hundred concurrent requests; an idle connection costs its two 4 KiB
// buffers and two goroutines, about 20 KiB.
const defaultMaxIdlePerBackend = 256

// idleConnTimeout closes a connection idle for longer, as net/http's
// DefaultTransport does.
const idleConnTimeout = 90 * time.Second

// newTransport returns the one http.Transport the proxy sends every
// attempt over, sized by cfg. It differs from http.DefaultTransport in
// what a reverse proxy needs:
//
//   - MaxIdleConnsPerHost is cfg.maxIdlePerBackend, and MaxIdleConns has
//     no total bound, so that connections are reused instead of redialled;
//   - DialContext gives up after cfg.connectTimeout, a failure the retrier
//     may retry on another endpoint whatever the method, since nothing was
//     sent;
//   - ResponseHeaderTimeout is cfg.timeout;
//   - no proxy from the environment ($HTTP_PROXY), and no transparent
//     gzip: the client's Accept-Encoding and the backend's encoding pass
//     through untouched;
//   - no HTTP/2: the backends are plain http:// URLs.
func newTransport(cfg config) *http.Transport {
	maxIdle := cfg.maxIdlePerBackend
	if maxIdle == 0 {
		maxIdle = defaultMaxIdlePerBackend
	}
	d := &net.Dialer{Timeout: cfg.connectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0, // no total bound; MaxIdleConnsPerHost bounds each backend
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: cfg.timeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}
