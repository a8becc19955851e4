package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"time"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
)

// affinityConfig is the -affinity, -affinity-timeout, -cookie-keys,
// -trusted-proxies, -zone and -zone-routing flags.
type affinityConfig struct {
	// mode is client-ip, cookie, path, header:NAME, cookie-hash:NAME or
	// query:NAME. Empty means none.
	mode string
	// timeout is how long a sticky entry lives unused (client-ip and the
	// key modes with the load pickers), or a cookie after it was issued.
	// Zero means 10800s, kube-proxy's default.
	timeout time.Duration
	// cookieKeys are hex HMAC keys, the first signing; empty means a
	// random key made at start (cookies then do not outlive the process
	// nor work across replicas).
	cookieKeys string
	// trustedProxies are the CIDRs whose X-Forwarded-For, Forwarded and
	// X-Real-IP the client IP believes.
	trustedProxies string
	// zone is the proxy's own zone; empty means no zone routing.
	zone string
	// zoneRouting is prefer-close (Kubernetes) or zone-aware (Envoy).
	zoneRouting string
}

// affinityPolicy is what a proxy does with the affinity flags: the request key,
// the sticky table or the cookie signer. It is safe for concurrent use
// by multiple goroutines.
type affinityPolicy struct {
	keys    *affinity.Keys    // the request key; nil: none
	hashing bool              // the algorithm hashes keys: the key goes in the Request
	sticky  *affinity.Sticky  // key → endpoint for the other algorithms; nil: none
	cookies *affinity.Cookies // cookie sessions; nil: none
}

// newAffinity builds the policy of cfg for an algorithm built by b.
func newAffinity(cfg affinityConfig, b balancer.Builder) (*affinityPolicy, error) {
	a := &affinityPolicy{}
	if ch, ok := b.(balancer.ConsistentHasher); ok && ch.ConsistentHash() {
		a.hashing = true
	}
	var trusted []netip.Prefix
	for _, s := range strings.Split(cfg.trustedProxies, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			addr, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("-trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", s)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		trusted = append(trusted, p.Masked())
	}
	if cfg.timeout < 0 {
		return nil, fmt.Errorf("-affinity-timeout is %v; it must be 0 (10800s) or more", cfg.timeout)
	}
	if cfg.timeout == 0 {
		cfg.timeout = affinity.DefaultStickyTimeout
	}
	if cfg.cookieKeys != "" && cfg.mode != "cookie" {
		return nil, fmt.Errorf("-cookie-keys is for -affinity cookie, not %q", cfg.mode)
	}
	if cfg.mode == "" {
		return a, nil
	}
	if cfg.mode == "cookie" {
		keys, err := cookieKeys(cfg.cookieKeys)
		if err != nil {
			return nil, err
		}
		a.cookies, err = affinity.NewCookies(affinity.CookieConfig{Keys: keys, TTL: cfg.timeout})
		return a, err
	}
	var p affinity.KeyPolicy
	kind, name, _ := strings.Cut(cfg.mode, ":")
	switch kind {
	case "client-ip":
		p.Source = affinity.SourceClientIP
	case "path":
		p.Source = affinity.SourcePath
	case "header":
		p.Source = affinity.SourceHeader
	case "cookie-hash":
		p.Source = affinity.SourceCookie
	case "query":
		p.Source = affinity.SourceQuery
	default:
		return nil, fmt.Errorf("-affinity %q: want client-ip, cookie, path, header:NAME, cookie-hash:NAME or query:NAME", cfg.mode)
	}
	p.Name = name
	keys, err := affinity.NewKeys(affinity.KeysConfig{Policies: []affinity.KeyPolicy{p}, TrustedProxies: trusted})
	if err != nil {
		return nil, fmt.Errorf("-affinity %q: %w", cfg.mode, err)
	}
	a.keys = keys
	if !a.hashing {
		a.sticky, err = affinity.NewSticky(affinity.StickyConfig{Timeout: cfg.timeout})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// cookieKeys reads -cookie-keys: comma-separated hex keys, or a fresh
// random one.
func cookieKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		b, err := hex.DecodeString(k)
		if err != nil {
			return nil, fmt.Errorf("-cookie-keys: %q is not hex", k)
		}
		keys = append(keys, b)
	}
	if len(keys) == 0 {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		keys = append(keys, k)
	}
	return keys, nil
}

// inboundKey is the context key under which rewrite leaves a request's
// key, a requestKey, for first.
type inboundKey struct{}

// requestKey is a request's key hash and whether it has one.
type requestKey struct {
	hash uint64
	ok   bool
}

// rewrite is the policy's part of the ReverseProxy's Rewrite: it takes
// the request key from the inbound request and hands it to first in the
// outbound request's context. The outbound request will not do: Rewrite
// has replaced its X-Forwarded-For with the peer's address (SetXForwarded),
// which would make every client behind a trusted proxy one client.
func (a *affinityPolicy) rewrite(pr *httputil.ProxyRequest) {
	if a.keys == nil {
		return
	}
	h, ok := a.keys.Hash(pr.In)
	pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), inboundKey{}, requestKey{h, ok}))
}

// first is the pick of a request's first attempt: through its cookie or
// its sticky entry when it has one, through the Balancer otherwise (with
// its key, for the hash pickers). breq is the request the retries pick
// with. issue says the response should carry a new cookie.
func (a *affinityPolicy) first(bal *balancer.Balancer, r *http.Request, breq *balancer.Request) (res balancer.Result, issue bool, err error) {
	key, hasKey := a.key(r)
	if a.hashing {
		breq.Hash, breq.HasHash = key, hasKey
	}
	switch {
	case a.cookies != nil:
		value := ""
		if ck, cerr := r.Cookie(a.cookies.Name()); cerr == nil {
			value = ck.Value
		}
		res, issue, err = a.cookies.PickValue(bal, value, *breq, 0)
	case a.sticky != nil && hasKey:
		res, _, err = a.sticky.Pick(bal, key, *breq, 0)
	default:
		var e *balancer.Endpoint
		if e, err = bal.Picker().Pick(*breq); err == nil {
			res = e.Begin()
		}
	}
	breq.Attempt++
	return res, issue, err
}

// served tells the policy which endpoint answered a request whose first
// attempt went elsewhere (moved), or that needs a cookie (moved too): the
// cookie is issued for it, on the response, or the request's sticky
// session pinned to it, so that the client's next requests do not try
// the endpoint that failed first.
func (a *affinityPolicy) served(req *http.Request, resp *http.Response, e *balancer.Endpoint, moved bool) {
	if !moved {
		return
	}
	if a.cookies != nil {
		resp.Header.Add("Set-Cookie", a.cookies.Cookie(e, 0).String())
	}
	if a.sticky != nil {
		if key, ok := a.key(req); ok {
			a.sticky.Pin(key, e, 0)
		}
	}
}

// key returns the request's key: the one rewrite took from the inbound
// request, or, for a request that did not come through rewrite (as the
// client sent it), its own.
func (a *affinityPolicy) key(r *http.Request) (uint64, bool) {
	if a.keys == nil {
		return 0, false
	}
	if k, ok := r.Context().Value(inboundKey{}).(requestKey); ok {
		return k.hash, k.ok
	}
	return a.keys.Hash(r)
}

// backendZone splits "URL@zone" into the URL and the zone.
func backendZone(raw string) (string, string) {
	if i := strings.LastIndexByte(raw, '@'); i >= 0 && !strings.ContainsAny(raw[i+1:], "/:") {
		return raw[:i], raw[i+1:]
	}
	return raw, ""
}

// zoned wraps b in zone routing when the proxy has a zone.
func zoned(cfg affinityConfig, b balancer.Builder) (balancer.Builder, error) {
	if cfg.zone == "" {
		return b, nil
	}
	z := affinity.Zones{Local: cfg.zone, Builder: b}
	switch cfg.zoneRouting {
	case "", "prefer-close":
		z.Mode = affinity.PreferClose
	case "zone-aware":
		z.Mode = affinity.ZoneAware
	default:
		return nil, fmt.Errorf("-zone-routing %q: want prefer-close or zone-aware", cfg.zoneRouting)
	}
	return z, nil
}
