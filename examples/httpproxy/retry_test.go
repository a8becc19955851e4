package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// retrying is the flags' default configuration with algorithm alg.
func retrying(alg string) config {
	return config{algorithm: alg, retries: 2, connectTimeout: time.Second, timeout: 60 * time.Second}
}

// backend is a loopback test backend that counts what it serves.
type backend struct {
	*httptest.Server
	hits atomic.Int64 // requests that reached the handler
}

// newBackend starts a backend that serves with h, or answers its name and
// echoes the request body when h is nil.
func newBackend(t *testing.T, name string, h http.HandlerFunc) *backend {
	b := &backend{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body) // before writing: see ResponseWriter.Write
			_, _ = io.WriteString(w, name+":"+string(body))
		}
	}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

// kill stops b the hard way: no new connections, and the open ones closed.
func (b *backend) kill() {
	_ = b.Listener.Close()
	b.CloseClientConnections()
}

// resetting answers every request by resetting its connection.
func resetting(w http.ResponseWriter, _ *http.Request) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_ = c.(*net.TCPConn).SetLinger(0) // close with RST
	_ = c.Close()
}

// hanging starts a backend that accepts connections and reads from them,
// but never answers. It returns its URL and its count of connections.
func hanging(t *testing.T) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepts atomic.Int64
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			conns.Go(func() {
				_, _ = io.Copy(io.Discard, c) // until the proxy gives up
				_ = c.Close()
			})
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); conns.Wait() })
	return "http://" + ln.Addr().String(), &accepts
}

// refusing returns the URL of a port nothing listens on.
func refusing(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	return "http://" + ln.Addr().String()
}

// send makes one request through the proxy and returns its status and body.
func send(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(got)
}

func TestKilledBackendFailsNoRequest(t *testing.T) {
	for _, alg := range []string{"round-robin", "least-request", "peak-ewma"} {
		t.Run(alg, func(t *testing.T) {
			var bs []*backend
			var urls []string
			for i := range 4 {
				bs = append(bs, newBackend(t, fmt.Sprint("backend-", i), nil))
				urls = append(urls, bs[i].URL)
			}
			p, front := startURLs(t, retrying(alg), urls...)
			const clients, each = 8, 50
			var sent atomic.Int64
			codes := make([]map[int]int, clients)
			var wg sync.WaitGroup
			for c := range clients {
				codes[c] = map[int]int{}
				wg.Go(func() {
					for range each {
						if sent.Add(1) == clients*each/4 {
							bs[1].kill() // mid-run, with requests in flight
						}
						code, _ := send(t, http.MethodGet, front.URL, "")
						codes[c][code]++
					}
				})
			}
			wg.Wait()
			for c := range clients {
				assert.Equal(t, map[int]int{http.StatusOK: each}, codes[c], "client %d", c)
			}
			// Any method is retried when the connection is refused: nothing
			// was sent. (A POST's body is not read ahead.)
			for i := range 20 {
				body := fmt.Sprint("post ", i)
				code, got := send(t, http.MethodPost, front.URL, body)
				require.Equal(t, http.StatusOK, code)
				assert.True(t, strings.HasSuffix(got, ":"+body), "the body arrives whole")
			}
			eps := p.bal.Endpoints()
			assert.NotZero(t, eps[1].Failures(), "the dead backend was tried")
			for i, e := range eps {
				if i != 1 {
					assert.Zero(t, e.Failures(), e.ID)
				}
			}
			settled(t, p, clients*each+20)
		})
	}
}

func TestRefusedWithoutRetries(t *testing.T) {
	ok := newBackend(t, "ok", nil)
	p, front := startURLs(t, config{algorithm: "round-robin"}, refusing(t), ok.URL)
	codes := map[int]int{}
	for range 10 {
		code, _ := send(t, http.MethodGet, front.URL, "")
		codes[code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 5, http.StatusBadGateway: 5}, codes)
	settled(t, p, 5)
}

func TestTimeoutRetriesOnlyIdempotent(t *testing.T) {
	hang1, accepts1 := hanging(t)
	hang2, accepts2 := hanging(t)
	ok := newBackend(t, "ok", nil)
	cfg := retrying("round-robin")
	cfg.timeout = 200 * time.Millisecond // long enough for the ok backend under -race
	p, front := startURLs(t, cfg, hang1, hang2, ok.URL)
	hung := func() int64 { return accepts1.Load() + accepts2.Load() }

	for range 6 {
		code, body := send(t, http.MethodGet, front.URL, "")
		require.Equal(t, http.StatusOK, code, "a GET is retried after a timeout")
		assert.Equal(t, "ok:", body)
	}
	assert.Equal(t, int64(6), ok.hits.Load())
	assert.NotZero(t, hung())
	eps := p.bal.Endpoints()
	assert.Equal(t, uint64(hung()), eps[0].Failures()+eps[1].Failures())
	assert.GreaterOrEqual(t, eps[0].Latency(0), 50*time.Millisecond, "a timeout feeds its elapsed time")

	before, codes := hung(), map[int]int{}
	for range 6 {
		code, _ := send(t, http.MethodPost, front.URL, "") // no body to replay, not idempotent
		codes[code]++
	}
	assert.Equal(t, 6, codes[http.StatusOK]+codes[http.StatusGatewayTimeout], codes)
	assert.NotZero(t, codes[http.StatusGatewayTimeout], codes)
	assert.Equal(t, int64(codes[http.StatusGatewayTimeout]), hung()-before, "a POST is not retried after a timeout")
	assert.Equal(t, int64(6+codes[http.StatusOK]), ok.hits.Load())
	settled(t, p, 6+codes[http.StatusOK])
}

func TestRetryNeverTriesABackendTwice(t *testing.T) {
	hang1, accepts1 := hanging(t)
	hang2, accepts2 := hanging(t)
	for _, alg := range []string{"round-robin", "random", "least-request", "maglev"} {
		cfg := retrying(alg)
		cfg.retries, cfg.timeout = 5, 50*time.Millisecond
		p, front := startURLs(t, cfg, hang1, hang2)
		before := accepts1.Load() + accepts2.Load()
		code, _ := send(t, http.MethodGet, front.URL, "")
		assert.Equal(t, http.StatusGatewayTimeout, code, alg)
		assert.Equal(t, int64(2), accepts1.Load()+accepts2.Load()-before, "%s: two backends, two tries", alg)
		settled(t, p, 0)
	}
}

func TestUpstream5xxIsNotRetried(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	ok := newBackend(t, "ok", nil)
	p, front := startURLs(t, retrying("round-robin"), bad.URL, ok.URL)
	codes := map[int]int{}
	for range 10 {
		code, _ := send(t, http.MethodGet, front.URL, "")
		codes[code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 5, http.StatusInternalServerError: 5}, codes)
	assert.Equal(t, int64(5), bad.hits.Load())
	assert.Equal(t, int64(5), ok.hits.Load())
	eps := p.bal.Endpoints()
	assert.Equal(t, uint64(5), eps[0].Failures(), "a 5xx is an upstream failure")
	assert.Zero(t, eps[1].Failures())
	settled(t, p, 5) // the 5xx are failures, not successes
}

func TestResetRetriesOnlyReplayableIdempotent(t *testing.T) {
	reset := newBackend(t, "reset", resetting)
	ok := newBackend(t, "ok", nil)
	p, front := startURLs(t, retrying("round-robin"), reset.URL, ok.URL)
	succeeded := 0
	type want struct {
		method  string
		body    string
		header  []string
		retried bool
	}
	small, big := strings.Repeat("s", 1000), strings.Repeat("b", maxReplayBody+1)
	for _, w := range []want{
		{http.MethodGet, "", nil, true},
		{http.MethodPut, small, nil, true},
		{http.MethodPost, small, []string{"Idempotency-Key", "k1"}, true},
		{http.MethodPost, small, nil, false},
		{http.MethodPost, "", nil, false},
		{http.MethodPut, big, nil, false},
	} {
		name := fmt.Sprintf("%s %d bytes %v", w.method, len(w.body), w.header)
		resets, oks := reset.hits.Load(), ok.hits.Load()
		codes := map[int]int{}
		for range 4 {
			code, got := send(t, w.method, front.URL, w.body, w.header...)
			codes[code]++
			if code == http.StatusOK {
				assert.Equal(t, "ok:"+w.body, got, name)
			}
		}
		succeeded += codes[http.StatusOK]
		assert.Equal(t, int64(codes[http.StatusOK]), ok.hits.Load()-oks, name)
		assert.NotZero(t, reset.hits.Load()-resets, "%s: reached the resetting backend", name)
		if w.retried {
			assert.Equal(t, map[int]int{http.StatusOK: 4}, codes, name)
		} else {
			assert.Equal(t, 4, codes[http.StatusOK]+codes[http.StatusBadGateway], name)
			assert.Equal(t, int64(codes[http.StatusBadGateway]), reset.hits.Load()-resets, "%s: not retried", name)
		}
	}
	assert.Equal(t, uint64(reset.hits.Load()), p.bal.Endpoints()[0].Failures())
	settled(t, p, succeeded)
}

func TestClientGoneIsCanceled(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	})
	defer close(release)
	p, front := startURLs(t, retrying("round-robin"), slow.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, front.URL, nil)
	require.NoError(t, err)
	go func() { <-arrived; cancel() }()
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.Canceled)
	e := p.bal.Endpoints()[0]
	require.Eventually(t, func() bool { return e.InFlight() == 0 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, uint64(1), e.Completed(), "the attempt ended")
	assert.Zero(t, e.Failures(), "a client that went away is not the backend's failure")
	assert.Zero(t, e.Latency(0), "nor a latency sample")
	assert.Equal(t, int64(1), slow.hits.Load(), "and is not retried")
}

func TestStreamingEndsWithTheBody(t *testing.T) {
	release := make(chan struct{})
	streaming := newBackend(t, "stream", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "head,")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "tail")
	})
	p, front := startURLs(t, retrying("peak-ewma"), streaming.URL)
	resp, err := http.Get(front.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	head := make([]byte, len("head,"))
	_, err = io.ReadFull(resp.Body, head)
	require.NoError(t, err)
	e := p.bal.Endpoints()[0]
	assert.Equal(t, int64(1), e.InFlight(), "in flight while the body streams")
	assert.Zero(t, e.Completed())
	close(release)
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "head,tail", string(head)+string(rest))
	settled(t, p, 1)
	assert.Positive(t, e.Latency(0), "the latency to the response headers is fed")
}
