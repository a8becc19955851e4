package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backends starts n test servers that answer with their own name.
func backends(t *testing.T, n int) []*httptest.Server {
	var srvs []*httptest.Server
	for i := range n {
		name := fmt.Sprintf("backend-%d", i)
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		srvs = append(srvs, s)
	}
	return srvs
}

func start(t *testing.T, cfg config, srvs []*httptest.Server) (*proxy, *httptest.Server) {
	var urls []string
	for _, s := range srvs {
		urls = append(urls, s.URL)
	}
	return startURLs(t, cfg, urls...)
}

// startURLs starts a proxy over the backends at urls, behind a test
// server.
func startURLs(t *testing.T, cfg config, urls ...string) (*proxy, *httptest.Server) {
	p, err := newProxy(cfg)
	require.NoError(t, err)
	t.Cleanup(p.transport.CloseIdleConnections)
	require.NoError(t, p.setBackends(urls))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lbz", p.status)
	mux.Handle("/", p)
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return p, front
}

func get(t *testing.T, url string, header map[string]string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	_, front := start(t, config{algorithm: "round-robin"}, backends(t, 3))
	counts := map[string]int{}
	for range 300 {
		code, body := get(t, front.URL, nil)
		require.Equal(t, http.StatusOK, code)
		counts[body]++
	}
	assert.Equal(t, map[string]int{"backend-0": 100, "backend-1": 100, "backend-2": 100}, counts)
}

func TestHashHeaderSticks(t *testing.T) {
	_, front := start(t, config{algorithm: "maglev", hashHeader: "X-User"}, backends(t, 5))
	for _, user := range []string{"alice", "bob", "carol"} {
		_, first := get(t, front.URL, map[string]string{"X-User": user})
		for range 20 {
			_, body := get(t, front.URL, map[string]string{"X-User": user})
			assert.Equal(t, first, body, user)
		}
	}
}

func TestDeadBackendCountsFailures(t *testing.T) {
	srvs := backends(t, 2)
	p, front := start(t, config{algorithm: "round-robin"}, srvs) // no retries
	srvs[1].Close()
	codes := map[int]int{}
	for range 10 {
		code, _ := get(t, front.URL, nil)
		codes[code]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 5, http.StatusBadGateway: 5}, codes)

	_, body := get(t, front.URL+"/lbz", nil)
	var z lbz
	require.NoError(t, json.Unmarshal([]byte(body), &z))
	status := z.Endpoints
	require.Len(t, status, 2)
	assert.Equal(t, uint64(5), status[1].Failures, "the dead backend's failures are counted")
	assert.Zero(t, status[0].Failures)
	assert.True(t, status[1].Healthy, "no health features: nothing takes it out")
	settled(t, p, 5)
}

// settled checks that every attempt the proxy made has ended, once: no
// endpoint has a request in flight, and the endpoints completed as many
// attempts as the requests that succeeded (succeeded) plus the attempts
// that failed, with none canceled.
func settled(t *testing.T, p *proxy, succeeded int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, e := range p.bal.Endpoints() {
			if e.InFlight() != 0 {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond, "every attempt ends")
	var completed, failed uint64
	for _, e := range p.bal.Endpoints() {
		assert.Zero(t, e.InFlight(), e.ID)
		completed += e.Completed()
		failed += e.Failures()
	}
	assert.Equal(t, uint64(succeeded)+failed, completed, "one Done for each attempt")
}

func TestBadConfig(t *testing.T) {
	_, err := newProxy(config{algorithm: "fastest"})
	assert.ErrorContains(t, err, `unknown algorithm "fastest" (one of round-robin`)
	_, err = newProxy(config{algorithm: `{"algorithm": "maglev", "tableSize": 4}`})
	assert.ErrorContains(t, err, "maglev")
	_, err = newProxy(config{algorithm: `{"algorithm": "ring-hash", "minRingSize": 2048}`})
	assert.NoError(t, err)
	_, err = newProxy(config{algorithm: "random", retries: -1})
	assert.ErrorContains(t, err, "retries is -1")
	p, err := newProxy(config{algorithm: "random"})
	require.NoError(t, err)
	assert.ErrorContains(t, p.setBackends([]string{"10.0.0.1"}), "is not a URL")
	assert.ErrorContains(t, p.setBackends([]string{""}), "no backends")
	assert.ErrorContains(t, p.setBackends(strings.Split("http://a:1,http://a:1", ",")), "same ID")
	for _, h := range []healthConfig{
		{panicThreshold: 101}, {panicThreshold: -1}, {interval: -time.Second},
		{path: "no-slash"}, {slowStart: -time.Second}, {path: "/h", rise: -1},
	} {
		_, err := newProxy(config{algorithm: "random", health: h})
		assert.Error(t, err, "%+v", h)
	}
}
