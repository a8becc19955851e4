package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dials runs requests GETs through a proxy over 4 backends from clients
// concurrent clients, and returns the number of connections the backends
// accepted.
func dials(t *testing.T, maxIdlePerBackend, clients, requests int) int64 {
	var accepted atomic.Int64
	var urls []string
	for i := range 4 {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprint(w, "backend-", i)
		}))
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				accepted.Add(1)
			}
		}
		s.Start()
		t.Cleanup(s.Close)
		urls = append(urls, s.URL)
	}
	cfg := retrying("round-robin")
	cfg.maxIdlePerBackend = maxIdlePerBackend
	_, front := startURLs(t, cfg, urls...)
	// The clients keep their own connections to the proxy, so that only
	// the proxy's reuse is measured.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	t.Cleanup(client.CloseIdleConnections)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(requests) {
				resp, err := client.Get(front.URL)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	return accepted.Load()
}

func TestConnectionsAreReused(t *testing.T) {
	const clients, requests = 32, 2000
	n := dials(t, 0, clients, requests)
	t.Logf("%d backend connections for %d requests from %d clients", n, requests, clients)
	// At most one connection per request in flight, to each backend, and
	// a few more where the Transport dials while a connection frees up.
	require.LessOrEqual(t, n, int64(clients+16))
}

// TestTwoIdleConnectionsDialOften shows what TestConnectionsAreReused
// guards against: net/http's default of 2 idle connections per host.
func TestTwoIdleConnectionsDialOften(t *testing.T) {
	const clients, requests = 32, 500
	n := dials(t, 2, clients, requests)
	t.Logf("%d backend connections for %d requests from %d clients", n, requests, clients)
	assert.Greater(t, n, int64(requests/10))
}
