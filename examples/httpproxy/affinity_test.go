package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/roundrobin"
)

// Two fixed HMAC keys for the cookie tests, 32 bytes each.
var (
	keyNew = []byte("0123456789abcdef0123456789abcdef")
	keyOld = []byte("fedcba9876543210fedcba9876543210")
)

// withAffinity is the default configuration with algorithm alg and the
// affinity flags ac.
func withAffinity(alg string, ac affinityConfig) config {
	cfg := retrying(alg)
	cfg.affinity = ac
	return cfg
}

// hostOf is the backend's host:port, the proxy's ID for it.
func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// names maps each backend's ID to the name it answers with.
func names(srvs []*httptest.Server) map[string]string {
	m := map[string]string{}
	for i, s := range srvs {
		m[hostOf(s)] = fmt.Sprintf("backend-%d", i)
	}
	return m
}

// session GETs url with the headers h and, unless value is empty, the
// session cookie of that value. It returns the status, the body and the
// session cookie the response sets, or nil.
func session(t *testing.T, c *http.Client, url string, h map[string]string, value string) (int, string, *http.Cookie) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if value != "" {
		req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: value})
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var set *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == affinity.DefaultCookieName {
			require.Nil(t, set, "one session cookie per response")
			set = ck
		}
	}
	return resp.StatusCode, string(body), set
}

// cookieFor returns the value of a session cookie signed by key that
// names the backend whose ID is id.
func cookieFor(t *testing.T, key []byte, id string) string {
	t.Helper()
	c, err := affinity.NewCookies(affinity.CookieConfig{Keys: [][]byte{key}})
	require.NoError(t, err)
	return c.Cookie(balancer.NewEndpoint(balancer.Backend{ID: id}), 0).Value
}

// A cookie session: the first response sets the cookie, the requests that
// carry it stay on its backend, and when that backend dies the session
// moves once, to the backend the retry reached.
func TestCookieSessionMovesOnce(t *testing.T) {
	for _, alg := range []string{"round-robin", "least-request"} {
		t.Run(alg, func(t *testing.T) {
			srvs := backends(t, 4)
			p, front := start(t, withAffinity(alg, affinityConfig{mode: "cookie"}), srvs)

			// Without a cookie requests spread, and each gets one.
			spread := map[string]int{}
			for range 40 {
				code, body, ck := session(t, http.DefaultClient, front.URL, nil, "")
				require.Equal(t, http.StatusOK, code)
				require.NotNil(t, ck, "a request without a cookie gets one")
				assert.True(t, ck.HttpOnly)
				assert.Equal(t, "/", ck.Path)
				assert.Equal(t, int(affinity.DefaultStickyTimeout/time.Second), ck.MaxAge, "-affinity-timeout's default")
				spread[body]++
			}
			if alg == "round-robin" {
				assert.Equal(t, map[string]int{"backend-0": 10, "backend-1": 10, "backend-2": 10, "backend-3": 10}, spread)
			} else {
				assert.GreaterOrEqual(t, len(spread), 3, "least-request spreads cookieless requests: %v", spread)
			}

			jar, err := cookiejar.New(nil)
			require.NoError(t, err)
			client := &http.Client{Jar: jar}
			code, first, ck := session(t, client, front.URL, nil, "")
			require.Equal(t, http.StatusOK, code)
			require.NotNil(t, ck)
			for range 50 {
				code, body, again := session(t, client, front.URL, nil, "")
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, first, body, "the session stays on its backend")
				require.Nil(t, again, "an honoured cookie is not set again")
			}

			var dead int
			_, err = fmt.Sscanf(first, "backend-%d", &dead)
			require.NoError(t, err)
			srvs[dead].Close()
			code, moved, renewed := session(t, client, front.URL, nil, "")
			require.Equal(t, http.StatusOK, code, "retried on another backend")
			require.NotEqual(t, first, moved)
			require.NotNil(t, renewed, "the answer names the backend that served it")
			require.NotEqual(t, ck.Value, renewed.Value)
			for range 50 {
				code, body, again := session(t, client, front.URL, nil, "")
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, moved, body, "the session moved once, and stays")
				require.Nil(t, again)
			}
			// The new cookie alone, from another client, names the new backend.
			for range 5 {
				_, body, _ := session(t, http.DefaultClient, front.URL, nil, renewed.Value)
				assert.Equal(t, moved, body)
			}
			assert.EqualValues(t, 1, p.bal.Endpoints()[dead].Failures(), "one attempt went to the dead backend")
			settled(t, p, 40+1+50+1+50+5)
		})
	}
}

// A cookie a client made up, one signed with another key and one
// tampered with are not honoured: the request goes where the balancer
// sends it, succeeds and gets a fresh cookie. The valid cookie, for
// comparison, always reaches its backend.
func TestForgedCookieIgnored(t *testing.T) {
	srvs := backends(t, 4)
	_, front := start(t, withAffinity("round-robin", affinityConfig{mode: "cookie", cookieKeys: hex.EncodeToString(keyNew)}), srvs)
	target := hostOf(srvs[0])
	valid := cookieFor(t, keyNew, target)
	for range 8 {
		code, body, ck := session(t, http.DefaultClient, front.URL, nil, valid)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "backend-0", body, "a valid cookie is honoured")
		require.Nil(t, ck)
	}

	raw, err := base64.RawURLEncoding.DecodeString(valid)
	require.NoError(t, err)
	forged := map[string]string{"signed with another key": cookieFor(t, keyOld, target)}
	random := make([]byte, len(raw))
	_, _ = rand.Read(random)
	random[0] = raw[0] // the right version, so that only the MAC can tell
	forged["random"] = base64.RawURLEncoding.EncodeToString(random)
	for _, at := range []int{0, 4, 12, len(raw) - 1} { // version, issued, ID hash, MAC
		flipped := append([]byte(nil), raw...)
		flipped[at] ^= 0x01
		forged[fmt.Sprintf("byte %d flipped", at)] = base64.RawURLEncoding.EncodeToString(flipped)
	}
	for name, value := range forged {
		t.Run(name, func(t *testing.T) {
			require.Len(t, value, len(valid))
			counts := map[string]int{}
			for range 40 {
				code, body, ck := session(t, http.DefaultClient, front.URL, nil, value)
				require.Equal(t, http.StatusOK, code)
				require.NotNil(t, ck, "a cookie that is not honoured is replaced")
				require.NotEqual(t, value, ck.Value)
				counts[body]++
			}
			assert.Equal(t, map[string]int{"backend-0": 10, "backend-1": 10, "backend-2": 10, "backend-3": 10}, counts,
				"round robin, as if there were no cookie")
		})
	}
}

// -cookie-keys NEW,OLD: a cookie signed by the old key is honoured and
// issued anew under the new one.
func TestCookieKeyRotation(t *testing.T) {
	srvs := backends(t, 4)
	keys := hex.EncodeToString(keyNew) + "," + hex.EncodeToString(keyOld)
	_, front := start(t, withAffinity("round-robin", affinityConfig{mode: "cookie", cookieKeys: keys}), srvs)
	old := cookieFor(t, keyOld, hostOf(srvs[2]))
	var renewed *http.Cookie
	for range 8 {
		code, body, ck := session(t, http.DefaultClient, front.URL, nil, old)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "backend-2", body, "the old key still verifies")
		require.NotNil(t, ck, "a cookie of the old key is issued anew")
		renewed = ck
	}

	// The new cookie is signed by the new key alone, and names backend-2.
	bal := balancer.New(roundrobin.Config{})
	var bs []balancer.Backend
	for _, s := range srvs {
		bs = append(bs, balancer.Backend{ID: hostOf(s)})
	}
	require.NoError(t, bal.Update(bs))
	for _, tc := range []struct {
		key   []byte
		valid bool
	}{{keyNew, true}, {keyOld, false}} {
		c, err := affinity.NewCookies(affinity.CookieConfig{Keys: [][]byte{tc.key}})
		require.NoError(t, err)
		res, issue, err := c.PickValue(bal, renewed.Value, balancer.Request{}, 0)
		require.NoError(t, err)
		res.Done(balancer.DoneInfo{})
		assert.Equal(t, !tc.valid, issue)
		if tc.valid {
			assert.Equal(t, hostOf(srvs[2]), res.Endpoint.ID)
		}
	}
	for range 8 {
		code, body, ck := session(t, http.DefaultClient, front.URL, nil, renewed.Value)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "backend-2", body)
		require.Nil(t, ck, "a cookie of the current key is kept")
	}
}

// -affinity client-ip with round robin: each client sticks to the
// backend of its first request. Behind trusted proxies the client is
// the one X-Forwarded-For names; otherwise it is the peer, whatever the
// header says.
func TestClientIPSticky(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted string
		clients int // distinct clients the proxy sees
	}{
		{"trusted", "127.0.0.0/8", 40},
		{"untrusted", "", 1},
		{"other trusted", "10.0.0.0/8", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srvs := backends(t, 4)
			_, front := start(t, withAffinity("round-robin", affinityConfig{mode: "client-ip", trustedProxies: tc.trusted}), srvs)
			firsts := map[string]int{}
			for i := range 40 {
				h := map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}
				code, first := get(t, front.URL, h)
				require.Equal(t, http.StatusOK, code)
				firsts[first]++
				for range 5 {
					_, body := get(t, front.URL, h)
					require.Equal(t, first, body, "client %d sticks", i)
				}
			}
			if tc.clients == 40 {
				assert.Equal(t, map[string]int{"backend-0": 10, "backend-1": 10, "backend-2": 10, "backend-3": 10}, firsts,
					"the clients' first requests went round robin")
			} else {
				assert.Len(t, firsts, 1, "one client, one backend: %v", firsts)
			}
			z := lbzOf(t, front.URL)
			require.NotNil(t, z.Affinity)
			assert.Equal(t, "client-ip", z.Affinity.Mode)
			require.NotNil(t, z.Affinity.Sticky)
			assert.Equal(t, tc.clients, z.Affinity.Sticky.Sessions)
			assert.GreaterOrEqual(t, z.Affinity.Sticky.Capacity, affinity.DefaultStickyEntries)
			assert.Zero(t, z.Affinity.Sticky.Evictions)
		})
	}
}

// -affinity header:X-User with maglev: the key reaches the backend that
// a plain Maglev over the same IDs picks for the header's Envoy hash.
func TestHeaderKeyMatchesMaglev(t *testing.T) {
	srvs := backends(t, 4)
	_, front := start(t, withAffinity("maglev", affinityConfig{mode: "header:X-User"}), srvs)
	keys, err := affinity.NewKeys(affinity.KeysConfig{Policies: []affinity.KeyPolicy{{Source: affinity.SourceHeader, Name: "X-User"}}})
	require.NoError(t, err)
	plain := balancer.New(maglev.Config{})
	var bs []balancer.Backend
	for _, s := range srvs {
		bs = append(bs, balancer.Backend{ID: hostOf(s)})
	}
	require.NoError(t, plain.Update(bs))
	byID := names(srvs)
	reached := map[string]bool{}
	for i := range 30 {
		user := fmt.Sprintf("user-%d", i)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-User", user)
		h, ok := keys.Hash(r)
		require.True(t, ok)
		e, err := plain.Picker().Pick(balancer.Request{Hash: h, HasHash: true})
		require.NoError(t, err)
		want := byID[e.ID]
		for range 5 {
			code, body := get(t, front.URL+fmt.Sprintf("/page/%d", i), map[string]string{"X-User": user})
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, want, body, user)
		}
		reached[want] = true
	}
	assert.GreaterOrEqual(t, len(reached), 2, "30 users spread over the ring")
	z := lbzOf(t, front.URL)
	require.NotNil(t, z.Affinity)
	assert.Equal(t, "header:X-User", z.Affinity.Mode)
	assert.Nil(t, z.Affinity.Sticky, "a hash algorithm keeps no table")
}

// A sticky client whose backend dies is served by another one: the
// request is retried there and the session moves to the backend that
// answered (Sticky.Pin), so no later request of the client tries the dead
// one first, whether or not health checks or outlier detection ever take
// it out.
func TestStickyMovesWhenBackendDies(t *testing.T) {
	xff := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	ac := affinityConfig{mode: "client-ip", trustedProxies: "127.0.0.1"}
	for _, tc := range []struct {
		name string
		h    healthConfig
	}{
		{"no health", healthConfig{}},
		{"active", healthConfig{path: "/", interval: 20 * time.Millisecond, fall: 2}},
		{"outlier", healthConfig{outlier: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bs []*backend
			for i := range 4 {
				bs = append(bs, newBackend(t, string(rune('a'+i)), nil))
			}
			cfg := withHealth("round-robin", tc.h)
			cfg.affinity = ac
			p, url := startHealthy(t, cfg, bs)
			code, first := get(t, url, xff)
			require.Equal(t, http.StatusOK, code)
			dead := int(first[0] - 'a')
			bs[dead].kill()

			code, moved := get(t, url, xff)
			require.Equal(t, http.StatusOK, code, "retried elsewhere")
			require.NotEqual(t, first, moved)
			for range 20 {
				code, body := get(t, url, xff)
				require.Equal(t, http.StatusOK, code)
				require.Equal(t, moved, body, "the session moved once, and stays")
			}
			assert.EqualValues(t, 1, p.bal.Endpoints()[dead].Failures(), "only the first request after the death tried the dead backend")
			assert.Equal(t, 1, lbzOf(t, url).Affinity.Sticky.Sessions)
		})
	}
}

// zoned starts a backend for each zone in zones, named for its zone and
// its index, and returns them and their URLs with their zones.
func zonedBackends(t *testing.T, zones ...string) ([]*backend, []string) {
	var bs []*backend
	var urls []string
	for i, z := range zones {
		b := newBackend(t, fmt.Sprintf("%s/%d", z, i), nil)
		bs = append(bs, b)
		urls = append(urls, b.URL+"@"+z)
	}
	return bs, urls
}

// zoneOf is the zone of the backend that answered body.
func zoneOf(body string) string {
	z, _, _ := strings.Cut(body, "/")
	return z
}

// -zone zone-a, prefer-close: requests stay in zone-a while it has a
// backend that serves, and go to zone-b when it has none.
func TestPreferCloseZone(t *testing.T) {
	ac := affinityConfig{zone: "zone-a", zoneRouting: "prefer-close"}
	zones := map[string]int{}
	countZones := func(t *testing.T, url string, n int) map[string]int {
		t.Helper()
		clear(zones)
		for range n {
			code, body := get(t, url, nil)
			require.Equal(t, http.StatusOK, code)
			zones[zoneOf(body)]++
		}
		return zones
	}

	t.Run("update", func(t *testing.T) {
		bs, urls := zonedBackends(t, "zone-a", "zone-b", "zone-a", "zone-b")
		p, front := startURLs(t, withAffinity("round-robin", ac), urls...)
		assert.Equal(t, map[string]int{"zone-a": 40}, countZones(t, front.URL, 40))
		assert.EqualValues(t, 20, bs[0].hits.Load(), "round robin within the zone")
		assert.EqualValues(t, 20, bs[2].hits.Load())
		require.NoError(t, p.setBackends([]string{urls[1], urls[3]}))
		assert.Equal(t, map[string]int{"zone-b": 40}, countZones(t, front.URL, 40))
		require.NoError(t, p.setBackends(urls))
		assert.Equal(t, map[string]int{"zone-a": 40}, countZones(t, front.URL, 40))
		require.NoError(t, p.setBackends([]string{urls[0], urls[1], strings.TrimSuffix(urls[2], "@zone-a")}))
		hits := bs[1].hits.Load()
		countZones(t, front.URL, 30)
		assert.EqualValues(t, hits+10, bs[1].hits.Load(), "a backend without a zone turns zone routing off")
	})

	t.Run("health", func(t *testing.T) {
		bs, urls := zonedBackends(t, "zone-a", "zone-b", "zone-a", "zone-b")
		cfg := withHealth("round-robin", healthConfig{path: "/", interval: 20 * time.Millisecond, fall: 2})
		cfg.affinity = ac
		p, front := startURLs(t, cfg, urls...)
		require.NoError(t, p.startHealth(context.Background()))
		t.Cleanup(func() { _ = p.Close() })
		assert.Equal(t, map[string]int{"zone-a": 40}, countZones(t, front.URL, 40))
		bs[0].kill()
		bs[2].kill()
		require.Eventually(t, func() bool { return lbzOf(t, front.URL).Down == 2 }, 3*time.Second, 5*time.Millisecond)
		hits := bs[0].hits.Load() + bs[2].hits.Load()
		assert.Equal(t, map[string]int{"zone-b": 40}, countZones(t, front.URL, 40))
		assert.Equal(t, hits, bs[0].hits.Load()+bs[2].hits.Load())
	})
}

// -zone-routing zone-aware keeps every request local when the zones hold
// the backends evenly, and routes over every zone below six backends
// (Envoy's min_cluster_size).
func TestZoneAware(t *testing.T) {
	ac := affinityConfig{zone: "zone-a", zoneRouting: "zone-aware"}
	_, urls := zonedBackends(t, "zone-a", "zone-b", "zone-a", "zone-b", "zone-a", "zone-b")
	p, front := startURLs(t, withAffinity("least-request", ac), urls...)
	for range 30 {
		code, body := get(t, front.URL, nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "zone-a", zoneOf(body))
	}
	require.NoError(t, p.setBackends(urls[:4]))
	zones := map[string]int{}
	for range 40 {
		_, body := get(t, front.URL, nil)
		zones[zoneOf(body)]++
	}
	assert.Len(t, zones, 2, "four backends: no zone routing: %v", zones)
}

func TestBadAffinityConfig(t *testing.T) {
	for _, tc := range []struct {
		ac   affinityConfig
		want string
	}{
		{affinityConfig{mode: "sticky"}, `-affinity "sticky"`},
		{affinityConfig{mode: "header:"}, `-affinity "header:"`},
		{affinityConfig{mode: "header:X User"}, `-affinity "header:X User"`},
		{affinityConfig{mode: "client-ip:X"}, `-affinity "client-ip:X"`},
		{affinityConfig{mode: "client-ip", trustedProxies: "garbage"}, `-trusted-proxies: "garbage"`},
		{affinityConfig{mode: "client-ip", trustedProxies: "10.0.0.0/8,10.0.0.0/33"}, `-trusted-proxies: "10.0.0.0/33"`},
		{affinityConfig{mode: "cookie", cookieKeys: "not-hex"}, `-cookie-keys: "not-hex"`},
		{affinityConfig{mode: "cookie", cookieKeys: "abcd"}, "key 0 has 2 bytes"},
		{affinityConfig{mode: "cookie", timeout: -time.Second}, "-affinity-timeout is -1s"},
		{affinityConfig{zone: "zone-a", zoneRouting: "nearest"}, `-zone-routing "nearest"`},
		{affinityConfig{mode: "client-ip", cookieKeys: "00112233445566778899aabbccddeeff"}, `-cookie-keys is for -affinity cookie`},
	} {
		_, err := newProxy(withAffinity("round-robin", tc.ac))
		assert.ErrorContains(t, err, tc.want, "%+v", tc.ac)
	}
	cfg := withAffinity("maglev", affinityConfig{mode: "query:user"})
	cfg.hashHeader = "X-User"
	_, err := newProxy(cfg)
	assert.ErrorContains(t, err, "give one of them")
	p, err := newProxy(withAffinity("round-robin", affinityConfig{zone: "zone-a"}))
	require.NoError(t, err, "prefer-close is the default")
	require.NoError(t, p.setBackends([]string{"http://10.0.0.1:80@zone-a", "http://10.0.0.2:80@zone-b", "http://10.0.0.3:80"}))
	var got []string
	for _, e := range p.bal.Endpoints() {
		got = append(got, e.ID+" "+e.Addr+" "+e.Zone)
	}
	assert.Equal(t, []string{"10.0.0.1:80 http://10.0.0.1:80 zone-a", "10.0.0.2:80 http://10.0.0.2:80 zone-b", "10.0.0.3:80 http://10.0.0.3:80 "}, got)
}

// /lbz shows no affinity when it is off, and the cookie mode without a
// sticky table.
func TestLbzAffinity(t *testing.T) {
	_, front := start(t, retrying("round-robin"), backends(t, 2))
	assert.Nil(t, lbzOf(t, front.URL).Affinity)
	_, front = start(t, withAffinity("round-robin", affinityConfig{mode: "cookie"}), backends(t, 2))
	z := lbzOf(t, front.URL)
	require.NotNil(t, z.Affinity)
	assert.Equal(t, "cookie", z.Affinity.Mode)
	assert.Nil(t, z.Affinity.Sticky)
}
