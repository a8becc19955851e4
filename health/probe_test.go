package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lbkit/lbkit/balancer"
)

// probeTimeout is the check timeout of the tests that expect a hang to be
// cut short; every such test also asserts the check returned well within
// probeSlack.
const (
	probeTimeout = 200 * time.Millisecond
	probeSlack   = 2 * time.Second
)

// noLeaks fails t if goroutines started during the test outlive it. It
// must be called before the test registers its own cleanups, which then
// run first.
func noLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

func endpointAt(addr string) *balancer.Endpoint {
	return balancer.NewEndpoint(balancer.Backend{ID: addr})
}

// check runs p against addr with probeTimeout and returns how long the
// check took and its error.
func check(t *testing.T, p Probe, addr string) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	start := time.Now()
	err := p.Check(ctx, endpointAt(addr))
	return time.Since(start), err
}

// serveStatus returns a server that answers every request with code.
func serveStatus(t *testing.T, code int) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

// listenRaw accepts connections on a loopback port and hands each to
// handle, until the test ends; then it closes the listener and every
// connection.
func listenRaw(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readRequest reads from c up to the end of a request header, so that an
// answer comes after the request, as the transport expects.
func readRequest(c net.Conn) {
	var got []byte
	buf := make([]byte, 1<<10)
	for !strings.Contains(string(got), "\r\n\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		got = append(got, buf[:n]...)
	}
}

func TestHTTPProbeHealthy(t *testing.T) {
	noLeaks(t)
	for _, code := range []int{200, 204, 301, 399} {
		s := serveStatus(t, code)
		_, err := check(t, HTTPProbe{}, s.Listener.Addr().String())
		require.NoError(t, err, "status %d", code)
	}
}

func TestHTTPProbeUnhealthyStatus(t *testing.T) {
	noLeaks(t)
	for _, code := range []int{404, 500, 503} {
		s := serveStatus(t, code)
		_, err := check(t, HTTPProbe{}, s.Listener.Addr().String())
		require.ErrorIs(t, err, ErrProbe, "status %d", code)
		require.ErrorContains(t, err, "status "+strconv.Itoa(code))
	}
}

func TestHTTPProbeExpected(t *testing.T) {
	noLeaks(t)
	s404 := serveStatus(t, 404)
	s200 := serveStatus(t, 200)
	for _, tc := range []struct {
		name     string
		addr     string
		expected []StatusRange
		ok       bool
	}{
		{"404 in 404-404", s404.Listener.Addr().String(), []StatusRange{{404, 404}}, true},
		{"404 in second range", s404.Listener.Addr().String(), []StatusRange{{200, 200}, {400, 499}}, true},
		{"200 only, Envoy's default", s200.Listener.Addr().String(), []StatusRange{{200, 200}}, true},
		{"200 not in 500-599", s200.Listener.Addr().String(), []StatusRange{{500, 599}}, false},
	} {
		_, err := check(t, HTTPProbe{Expected: tc.expected}, tc.addr)
		if tc.ok {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, ErrProbe, tc.name)
			require.ErrorContains(t, err, "status 200", tc.name)
		}
	}
}

func TestHTTPProbeSendsRequest(t *testing.T) {
	noLeaks(t)
	type seen struct {
		method, path, query, host, probe, agent string
		close                                   bool
	}
	got := make(chan seen, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("X-Probe"), r.UserAgent(), r.Close}
	}))
	t.Cleanup(s.Close)
	addr := s.Listener.Addr().String()

	_, err := check(t, HTTPProbe{}, addr)
	require.NoError(t, err)
	require.Equal(t, seen{method: "GET", path: "/", host: addr, agent: "lbkit-health", close: true}, <-got,
		"defaults: GET /, Host is Addr, keep-alives off")

	p := HTTPProbe{
		Method: "HEAD",
		Path:   "/healthz?deep=1",
		Host:   "svc.example",
		Header: http.Header{"X-Probe": {"1"}, "User-Agent": {"kube-probe/1.31"}},
	}
	_, err = check(t, p, addr)
	require.NoError(t, err)
	require.Equal(t, seen{"HEAD", "/healthz", "deep=1", "svc.example", "1", "kube-probe/1.31", true}, <-got)
}

func TestHTTPProbeNoRedirect(t *testing.T) {
	noLeaks(t)
	followed := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/down", http.StatusFound) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		followed <- struct{}{}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	_, err := check(t, HTTPProbe{}, s.Listener.Addr().String())
	require.NoError(t, err, "a 302 is within 200-399 and is not followed")
	require.Empty(t, followed)
}

func TestHTTPProbeHangs(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name   string
		handle func(net.Conn)
	}{
		{"accepts and never answers", func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) }},
		{"header sent, body never ends", func(c net.Conn) {
			readRequest(c)
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial"))
			_, _ = c.Read(make([]byte, 1))
		}},
		{"endless garbage without a newline", func(c net.Conn) {
			readRequest(c)
			junk := []byte(strings.Repeat("x", 4<<10))
			for {
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}},
	} {
		addr := listenRaw(t, tc.handle)
		took, err := check(t, HTTPProbe{}, addr)
		require.ErrorIs(t, err, ErrProbe, tc.name)
		require.Less(t, took, probeSlack, tc.name)
	}
}

func TestHTTPProbeTimeoutSaysSo(t *testing.T) {
	noLeaks(t)
	addr := listenRaw(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) })
	took, err := check(t, HTTPProbe{}, addr)
	require.ErrorIs(t, err, ErrProbe)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "timeout")
	require.GreaterOrEqual(t, took, probeTimeout-10*time.Millisecond)
}

func TestHTTPProbeGarbage(t *testing.T) {
	noLeaks(t)
	for _, junk := range []string{
		"\x00\x01\x02 not http\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"HTTP/1.1 abc Bad\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("y", 1000)+"\r\n", 100) + "\r\n",
	} {
		addr := listenRaw(t, func(c net.Conn) {
			readRequest(c)
			_, _ = c.Write([]byte(junk))
			c.Close()
		})
		took, err := check(t, HTTPProbe{}, addr)
		require.ErrorIs(t, err, ErrProbe, "%q", junk)
		require.Less(t, took, probeSlack)
	}
}

func TestHTTPProbeHugeBody(t *testing.T) {
	noLeaks(t)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 1<<10; i++ { // 64 MiB unless the client hangs up
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	took, err := check(t, HTTPProbe{}, s.Listener.Addr().String())
	require.NoError(t, err, "only the first 64 KiB are read")
	require.Less(t, took, probeSlack)
}

func TestHTTPProbeDiesAndComesBack(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	serve := func(ln net.Listener) *http.Server {
		s := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
		go func() { _ = s.Serve(ln) }()
		return s
	}
	s := serve(ln)
	_, err = check(t, HTTPProbe{}, addr)
	require.NoError(t, err)

	require.NoError(t, s.Close())
	took, err := check(t, HTTPProbe{}, addr)
	require.ErrorIs(t, err, ErrProbe)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.Less(t, took, probeSlack)

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken by another process meanwhile: %v", addr, err)
	}
	s = serve(ln)
	t.Cleanup(func() { s.Close() })
	_, err = check(t, HTTPProbe{}, addr)
	require.NoError(t, err, "healthy again on the same port")
}

func TestHTTPProbeInvalid(t *testing.T) {
	dialed := false
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		dialed = true
		return nil, errors.New("unreachable")
	})}
	for _, p := range []HTTPProbe{
		{Method: "GE T"},
		{Path: "healthz"},
		{Path: "/a b"},
		{Scheme: "ftp"},
		{Host: "a/b"},
		{Expected: []StatusRange{{99, 200}}},
		{Expected: []StatusRange{{300, 200}}},
		{Expected: []StatusRange{{200, 600}}},
		{Header: http.Header{"Bad Name": {"x"}}},
		{Header: http.Header{"X-Ok": {"a\r\nInjected: 1"}}},
	} {
		p.Client = client
		require.ErrorIs(t, p.Validate(), ErrConfig, "%+v", p)
		_, err := check(t, p, "127.0.0.1:1")
		require.ErrorIs(t, err, ErrConfig, "%+v", p)
		require.NotErrorIs(t, err, ErrProbe)
	}
	require.False(t, dialed, "an invalid probe sends nothing")
	require.NoError(t, HTTPProbe{Method: "OPTIONS", Path: "/x?y=z", Host: "[::1]:80", Scheme: "https",
		Expected: []StatusRange{{100, 599}}, Header: http.Header{"X-A": {"b"}}}.Validate())
}

func TestHTTPProbeClientAndBadInput(t *testing.T) {
	var got string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
	})}
	require.NoError(t, HTTPProbe{Client: client, Scheme: "https", Path: "/ready"}.Check(context.Background(), endpointAt("10.0.0.7:8443")))
	require.Equal(t, "https://10.0.0.7:8443/ready", got, "the given Client is used, aimed at Addr")

	require.ErrorIs(t, HTTPProbe{}.Check(context.Background(), nil), ErrConfig)
	err := HTTPProbe{Client: client}.Check(context.Background(), endpointAt("bad addr\x7f"))
	require.ErrorIs(t, err, ErrProbe, "an endpoint that cannot be addressed fails its check")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTCPProbe(t *testing.T) {
	noLeaks(t)
	addr := listenRaw(t, func(c net.Conn) { c.Close() })
	_, err := check(t, TCPProbe{}, addr)
	require.NoError(t, err, "listener up")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	took, err := check(t, TCPProbe{Dialer: &net.Dialer{}}, closed)
	require.ErrorIs(t, err, ErrProbe, "listener closed")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.Less(t, took, probeTimeout, "a refused connection fails at once, not at the timeout")

	require.ErrorIs(t, TCPProbe{}.Check(context.Background(), nil), ErrConfig)
}

func TestTCPProbeTimeout(t *testing.T) {
	noLeaks(t)
	// 192.0.2.1 (TEST-NET-1) is never routed: the dial either hangs until
	// the deadline or fails at once with "network unreachable".
	took, err := check(t, TCPProbe{}, "192.0.2.1:80")
	require.ErrorIs(t, err, ErrProbe)
	require.Less(t, took, probeSlack)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = TCPProbe{}.Check(ctx, endpointAt("192.0.2.1:80"))
	require.ErrorIs(t, err, context.Canceled, "a done ctx stops the check")
}

func TestProbeFunc(t *testing.T) {
	want := errors.New("down")
	var p Probe = ProbeFunc(func(_ context.Context, e *balancer.Endpoint) error {
		if e.ID == "a" {
			return want
		}
		return nil
	})
	require.ErrorIs(t, p.Check(context.Background(), endpointAt("a")), want)
	require.NoError(t, p.Check(context.Background(), endpointAt("b")))
	require.ErrorIs(t, ProbeFunc(nil).Check(context.Background(), endpointAt("a")), ErrConfig)
}

func FuzzHTTPProbeValidate(f *testing.F) {
	f.Add("GET", "/", "", "", 200, 399, "X-A", "b")
	f.Add("", "", "svc", "https", 100, 599, "", "")
	f.Add("GE T", "/a b", "a/b", "ftp", 0, 1000, "Bad Name", "x\r\ny")
	f.Add("PURGE", "/%zz", "h", "http", 300, 200, "X", "\x00")
	f.Fuzz(func(t *testing.T, method, path, host, scheme string, lo, hi int, name, value string) {
		p := HTTPProbe{Method: method, Path: path, Host: host, Scheme: scheme,
			Expected: []StatusRange{{lo, hi}}, Header: http.Header{name: {value}}}
		err := p.Validate()
		if err != nil {
			require.ErrorIs(t, err, ErrConfig)
			require.True(t, strings.HasPrefix(err.Error(), "health: "))
			return
		}
		// A valid probe passes against a server that answers an expected
		// status: net/http accepts everything Validate lets through.
		require.True(t, 100 <= lo && lo <= hi && hi <= 599)
		code := max(lo, 200)
		if code > hi {
			return // only 1xx expected: no final status to answer with
		}
		p.Client = pipeClient(t, code)
		p.Scheme = "http" // the in-memory server speaks no TLS
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, p.Check(ctx, endpointAt("10.0.0.1:8080")))
	})
}

// pipeClient returns a client whose every connection goes to an
// in-memory server that reads one request and answers code. The server
// fails t if it cannot parse the request.
func pipeClient(t *testing.T, code int) *http.Client {
	dial := func(context.Context, string, string) (net.Conn, error) {
		c, s := net.Pipe()
		go func() {
			defer s.Close()
			req, err := http.ReadRequest(bufio.NewReader(s))
			if err != nil {
				t.Errorf("server cannot parse the probe's request: %v", err)
				return
			}
			req.Body.Close()
			fmt.Fprintf(s, "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code)
		}()
		return c, nil
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}
