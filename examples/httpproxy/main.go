// Command httpproxy is an HTTP reverse proxy that balances requests over a
// static list of backends with any lbkit algorithm: the smallest complete
// example of embedding a balancer.Balancer in a proxy.
//
//	go run ./examples/httpproxy -backends http://127.0.0.1:9001,http://127.0.0.1:9002 -algorithm least-request
//	go run ./examples/httpproxy -backends ... -algorithm maglev -hash-header X-User
//
// Requests are proxied with net/http/httputil.ReverseProxy, which handles
// the headers and streams the bodies; its Transport is a retrier, an
// http.RoundTripper that picks an endpoint for each attempt
// (Balancer.Picker, Endpoint.Begin), sends the request to it, and ends the
// attempt with Result.Done, which feeds the endpoint's latency and outcome
// back to the picker. GET /lbz on the proxy shows each endpoint's live
// counters.
//
// # Retries
//
// As nginx's proxy_next_upstream "error timeout" and HAProxy's "option
// redispatch" do, a request whose attempt failed is sent again to another
// endpoint, up to -retries times (default 2: three tries in all, never
// twice to the same backend):
//
//   - when the connection could not be made (refused, unreachable, or no
//     answer within -connect-timeout): any request, POST included, since
//     nothing reached the backend;
//   - when the request was sent and the connection then broke, or no
//     response headers came within -timeout: only idempotent requests (GET,
//     HEAD, OPTIONS, TRACE, PUT, DELETE, or any carrying an Idempotency-Key
//     or X-Idempotency-Key header) whose body was at most 64 KiB, which the
//     proxy reads ahead so that it can send it again.
//
// A response is never retried: a 5xx passes through to the client, and
// counts as a failure of its endpoint. When every try fails the client
// gets 502 Bad Gateway, or 504 Gateway Timeout when the last one timed
// out; 503 when there is no backend at all.
//
// Each attempt is its own pick and ends with its own Done: a failed
// connection or a timeout as a gateway failure, a 5xx as an upstream
// failure, a client that went away as canceled (neither), anything else as
// a success. A response's attempt ends when its body has been streamed to
// the client, so it counts in flight until then, with the latency to its
// response headers.
//
// # Health
//
// The flags run lbkit's health package on the backends:
//
//	-health-path /healthz -health-interval 1s   # active HTTP checks (a TCP connect without -health-path)
//	-health-rise 2 -health-fall 3               # passes to come back, failures to go out (HAProxy's defaults)
//	-outlier -ejection-time 30s                 # Envoy's outlier detection: 5 failures in a row eject
//	-slow-start 30s                             # ramp a new or recovered backend up
//	-panic-threshold 50                         # below 50% healthy, balance over all (0: never)
//
// A backend that is down or ejected leaves the rotation until it is
// healthy again; /lbz shows, for each backend, whether it is healthy and
// serving, why it is out (the last check's error, the detector that
// ejected it and when it returns), how many times it was ejected and its
// slow-start weight. Every attempt's outcome feeds outlier detection: a
// 5xx answer as an upstream failure, a refused, reset or timed-out
// attempt as a gateway failure.
//
// # Connection reuse and timeouts
//
// The proxy keeps up to -max-idle-per-backend idle connections open to each
// backend, closed after 90 s idle: net/http's default of 2 made 37-47% of
// the requests dial anew under 32 concurrent clients. -connect-timeout
// (1 s) is short because a backend on the same network accepts in well
// under a millisecond, so a dial that takes longer is to a host that is
// gone, and the request had better be retried elsewhere. -timeout (60 s,
// nginx's proxy_read_timeout) bounds only the wait for the response
// headers, of each try; a body may stream for as long as it takes.
//
// # Affinity and zones
//
//	-affinity client-ip -trusted-proxies 10.0.0.0/8   # a client IP's requests to one backend
//	-affinity cookie -cookie-keys 3f9a...             # a signed session cookie names the backend
//	-affinity header:X-User                           # hash pickers: the header's value is the key
//	-zone zone-a -backends http://10.0.0.7:8080@zone-a,http://10.0.1.9:8080@zone-b
//
// With the hash algorithms (ring-hash, maglev) the key a request carries
// (its client IP, a header, a cookie, a query parameter or its path,
// hashed as Envoy's hash policies hash them) chooses its backend on the
// ring. With the others, a sticky table maps the key to the backend that
// served its first request, as kube-proxy's sessionAffinity: ClientIP
// does, for -affinity-timeout after its last use; a backend that leaves,
// fails its checks or is ejected loses its sessions to the next pick.
// -affinity cookie works with any algorithm: the first response carries a
// cookie, HMAC-signed so that a client cannot forge one for a backend of
// its choosing, and later requests that carry it go to its backend while
// that backend serves; a request retried elsewhere gets a cookie for the
// backend that answered. The client IP is the peer's address unless the
// peer is a trusted proxy (-trusted-proxies), whose X-Forwarded-For,
// Forwarded or X-Real-IP is then believed up to the first untrusted hop.
// -zone keeps requests in the proxy's zone (Kubernetes' PreferClose);
// with -zone-routing zone-aware, Envoy's zone-aware routing, which also
// turns zones off below 6 backends. A lone proxy does not know how its
// fleet is spread, so it assumes the proxies are spread as the backends
// are (affinity.Zones.Proxies nil): a proxy that knows its fleet sets
// Proxies and then keeps in its zone only what the zone's backends can
// take. Both route over every zone when the local one has no backend, or
// in panic. /lbz shows the -affinity mode and, with a sticky table, its
// sessions (Sticky.Len), capacity and evictions.
//
// bench.sh measures the proxy under wrk against 4 backends on loopback,
// beside haproxy and nginx configured alike.
package main

import (
	"context"
	"flag"
	"fmt"
	lbconfig "github.com/lbkit/lbkit/config"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	backends := flag.String("backends", "", "comma-separated backend URLs, e.g. http://10.0.0.7:8080, each with an optional zone: http://10.0.0.7:8080@zone-a")
	algorithm := flag.String("algorithm", "least-request", "one of "+strings.Join(lbconfig.Names(), ", ")+", or a JSON configuration such as {\"algorithm\":\"ring-hash\",\"minRingSize\":4096}")
	hashHeader := flag.String("hash-header", "", "header whose value is the request key for the hash algorithms (e.g. X-User): the same as -affinity header:NAME; empty means none")
	retries := flag.Int("retries", 2, "how many times a failed request may be sent again, each time to another backend; 0 means never "+
		"(connection failures are retried for any method, broken connections and timeouts only for idempotent requests)")
	connectTimeout := flag.Duration("connect-timeout", time.Second, "how long to wait for a connection to a backend; 0 means no limit but the system's")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for a backend's response headers once the request is sent; 0 means no limit")
	maxIdle := flag.Int("max-idle-per-backend", defaultMaxIdlePerBackend, "idle connections to keep open to each backend for reuse; at least the requests one backend serves at once")
	var hc healthConfig
	flag.StringVar(&hc.path, "health-path", "", "HTTP path of the active health check (e.g. /healthz), sent to every backend every -health-interval; empty means a TCP connect when -health-interval is set, no active check otherwise")
	flag.DurationVar(&hc.interval, "health-interval", 0, "time between active checks of a backend; 0 means 2s when -health-path is set, no active check otherwise")
	flag.IntVar(&hc.rise, "health-rise", 0, "passing checks in a row that bring a backend back; 0 means 2")
	flag.IntVar(&hc.fall, "health-fall", 0, "failing checks in a row that take a backend out; 0 means 3")
	flag.BoolVar(&hc.outlier, "outlier", false, "eject backends whose requests fail, with Envoy's outlier detection defaults (5 failures in a row, 30s, at most 10% ejected)")
	flag.DurationVar(&hc.ejectionTime, "ejection-time", 0, "how long -outlier's first ejection of a backend lasts (then twice, three times..., at most 300s); 0 means 30s")
	flag.DurationVar(&hc.slowStart, "slow-start", 0, "ramp a new or recovered backend's share up over this window; 0 means none")
	flag.Float64Var(&hc.panicThreshold, "panic-threshold", 50, "when fewer than this percent of the backends are healthy, balance over all of them; 0 means never")
	var ac affinityConfig
	flag.StringVar(&ac.mode, "affinity", "", "keep related requests on one backend: client-ip, cookie, path, header:NAME, cookie-hash:NAME or query:NAME; "+
		"with the hash algorithms the key is hashed onto the ring (Envoy's hash policies), with the others a sticky table maps it to its backend; cookie sets a signed session cookie naming the backend, for any algorithm")
	flag.DurationVar(&ac.timeout, "affinity-timeout", 0, "how long a sticky entry lives unused, or a session cookie after it was issued; 0 means 10800s (kube-proxy's default)")
	flag.StringVar(&ac.cookieKeys, "cookie-keys", "", "comma-separated hex HMAC keys for -affinity cookie, the first signing (rotate by putting a new one first); empty means a random key, so cookies end with the process")
	flag.StringVar(&ac.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For, Forwarded and X-Real-IP the client IP believes; empty means none: the peer's address")
	flag.StringVar(&ac.zone, "zone", "", "this proxy's zone; backends given as URL@ZONE are then routed zone-aware; empty means no zone routing")
	flag.StringVar(&ac.zoneRouting, "zone-routing", "prefer-close", "with -zone: prefer-close (Kubernetes trafficDistribution: PreferClose) or zone-aware (Envoy's, with spill by capacity)")
	flag.Parse()

	if *maxIdle < 1 {
		fmt.Fprintln(os.Stderr, "httpproxy: -max-idle-per-backend must be at least 1")
		os.Exit(2)
	}
	p, err := newProxy(config{
		algorithm: *algorithm, hashHeader: *hashHeader, retries: *retries,
		connectTimeout: *connectTimeout, timeout: *timeout, maxIdlePerBackend: *maxIdle,
		health: hc, affinity: ac,
	})
	if err == nil {
		err = p.setBackends(strings.Split(*backends, ","))
	}
	if err == nil {
		err = p.startHealth(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpproxy:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lbz", p.status)
	mux.Handle("/", p)
	log.Printf("httpproxy: %s over %s on http://%s", *algorithm, *backends, *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
