package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// withHealth is the default configuration with alg and health features h.
func withHealth(alg string, h healthConfig) config {
	cfg := retrying(alg)
	cfg.health = h
	return cfg
}

// startHealthy starts a proxy with its Monitor over the backends.
func startHealthy(t *testing.T, cfg config, bs []*backend) (*proxy, string) {
	t.Helper()
	var urls []string
	for _, b := range bs {
		urls = append(urls, b.URL)
	}
	p, front := startURLs(t, cfg, urls...)
	require.NoError(t, p.startHealth(context.Background()))
	t.Cleanup(func() { _ = p.Close() })
	return p, front.URL
}

func lbzOf(t *testing.T, url string) lbz {
	t.Helper()
	code, body := get(t, url+"/lbz", nil)
	require.Equal(t, http.StatusOK, code)
	var z lbz
	require.NoError(t, json.Unmarshal([]byte(body), &z))
	return z
}

func healthz(ok *atomic.Bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !ok.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}
}

// With active checks, a dead backend leaves the rotation after fall
// failed checks, and /lbz says why; no request fails meanwhile, thanks
// to the retries.
func TestActiveCheckTakesDeadBackendOut(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	for _, alg := range []string{"round-robin", "least-request", "peak-ewma", "maglev"} {
		t.Run(alg, func(t *testing.T) {
			var bs []*backend
			for i := range 4 {
				bs = append(bs, newBackend(t, string(rune('a'+i)), nil))
			}
			p, url := startHealthy(t, withHealth(alg, healthConfig{path: "/", interval: 20 * time.Millisecond, fall: 2}), bs)
			bs[1].kill()
			start := time.Now()
			failed := 0
			for time.Since(start) < 2*time.Second {
				code, _ := get(t, url, nil)
				if code != http.StatusOK {
					failed++
				}
				if z := lbzOf(t, url); z.Down == 1 {
					break
				}
			}
			require.Equal(t, 1, lbzOf(t, url).Down, "the dead backend is down after two failed checks")
			require.Eventually(t, func() bool { return !lbzOf(t, url).Endpoints[1].Serving }, time.Second, time.Millisecond)
			z := lbzOf(t, url)
			assert.Contains(t, z.Endpoints[1].LastCheckError, "connection refused")
			assert.Zero(t, failed, "retries save every request")
			hits := bs[1].hits.Load()
			for range 50 {
				code, _ := get(t, url, nil)
				require.Equal(t, http.StatusOK, code)
			}
			assert.Equal(t, hits, bs[1].hits.Load())
			require.NoError(t, p.Close())
		})
	}
}

// With outlier detection, a backend that refuses connections is ejected
// after five failures in a row, and no request fails.
func TestOutlierEjectsDeadBackend(t *testing.T) {
	for _, alg := range []string{"round-robin", "least-request", "peak-ewma", "ring-hash"} {
		t.Run(alg, func(t *testing.T) {
			var bs []*backend
			for i := range 4 {
				bs = append(bs, newBackend(t, string(rune('a'+i)), nil))
			}
			p, url := startHealthy(t, withHealth(alg, healthConfig{outlier: true}), bs)
			bs[2].kill()
			for i := range 400 {
				code, _ := get(t, url+"/?i="+string(rune('a'+i%26)), map[string]string{})
				require.Equal(t, http.StatusOK, code)
			}
			z := lbzOf(t, url)
			dead := z.Endpoints[2]
			if strings.HasPrefix(alg, "least") || alg == "peak-ewma" {
				// A failure counts as load, so the least-request pickers
				// stop sending to it before it is ejected.
				assert.LessOrEqual(t, dead.Failures, uint64(5))
				settled(t, p, 400)
				return
			}
			require.Equal(t, 1, z.Ejected)
			assert.True(t, dead.Ejected)
			assert.Equal(t, "consecutive_5xx", dead.EjectedBy)
			assert.EqualValues(t, 5, dead.Failures, "ejected at the fifth failure; tried no more")
			assert.NotNil(t, dead.ReturnsAt)
			settled(t, p, 400)
		})
	}
}

// A backend that answers 500 to everything is ejected, and serves again
// once fixed, when its ejection ends.
func TestOutlierEjects500sAndReturns(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	bs := []*backend{newBackend(t, "a", nil), newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("b"))
	}), newBackend(t, "c", nil)}
	_, url := startHealthy(t, withHealth("round-robin", healthConfig{outlier: true, ejectionTime: 300 * time.Millisecond}), bs)
	fives := 0
	for range 60 {
		if code, _ := get(t, url, nil); code == http.StatusInternalServerError {
			fives++
		}
	}
	assert.Equal(t, 5, fives, "five 500s pass through to clients, then the backend is out")
	z := lbzOf(t, url)
	require.True(t, z.Endpoints[1].Ejected)
	broken.Store(false)
	require.Eventually(t, func() bool { return !lbzOf(t, url).Endpoints[1].Ejected }, 5*time.Second, 10*time.Millisecond)
	hits := bs[1].hits.Load()
	for range 30 {
		code, _ := get(t, url, nil)
		require.Equal(t, http.StatusOK, code)
	}
	assert.EqualValues(t, hits+10, bs[1].hits.Load(), "back in the rotation: a third of the requests")
	assert.Equal(t, 1, lbzOf(t, url).Endpoints[1].Ejections)
}

// An HTTP check on a path: a backend whose /healthz fails is taken out
// although it serves other paths, and comes back when it passes.
func TestHTTPCheckPath(t *testing.T) {
	var ok atomic.Bool
	bs := []*backend{newBackend(t, "a", nil), newBackend(t, "b", healthz(&ok))}
	_, url := startHealthy(t, withHealth("round-robin", healthConfig{path: "/healthz", interval: 20 * time.Millisecond, fall: 1, rise: 1}), bs)
	require.Eventually(t, func() bool { return lbzOf(t, url).Down == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, lbzOf(t, url).Endpoints[1].LastCheckError, "503")
	ok.Store(true)
	require.Eventually(t, func() bool { return lbzOf(t, url).Down == 0 }, 5*time.Second, 10*time.Millisecond)
}

// Slow start shows in /lbz: a backend that joins ramps up.
func TestSlowStartInLbz(t *testing.T) {
	bs := []*backend{newBackend(t, "a", nil), newBackend(t, "b", nil)}
	p, url := startHealthy(t, withHealth("round-robin", healthConfig{slowStart: time.Minute}), bs[:1])
	require.NoError(t, p.setBackends([]string{bs[0].URL, bs[1].URL}))
	z := lbzOf(t, url)
	assert.EqualValues(t, 1, z.Endpoints[0].SlowStart)
	assert.Less(t, z.Endpoints[1].SlowStart, 0.2)
	assert.Less(t, z.Endpoints[1].Weight, z.Endpoints[0].Weight)
}
