package affinity_test

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/lbkit/lbkit/affinity"
)

// Reference parsers, written from Envoy's C++ as literally as Go allows
// (split first, then look), to check the package's allocation-free
// scanners against.

// envoyCookie is Utility::parseCookieValue over forEachCookie
// (source/common/http/utility.cc).
func envoyCookie(lines []string, key string) string {
	for _, line := range lines {
		for _, s := range strings.Split(line, ";") { // splitToken: empty pieces dropped
			if s == "" {
				continue
			}
			eq := strings.IndexByte(s, '=')
			if eq < 0 {
				continue
			}
			first := strings.IndexFunc(s, func(r rune) bool { return r != ' ' })
			k, v := s[first:eq], s[eq+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if k == key {
				return v
			}
		}
	}
	return ""
}

// envoyQuery is QueryParamsMulti::parseQueryString + getFirstValue.
func envoyQuery(raw, name string) (string, bool) {
	first := map[string]string{}
	for start := 0; start < len(raw); {
		end := strings.IndexByte(raw[start:], '&')
		if end < 0 {
			end = len(raw)
		} else {
			end += start
		}
		param := raw[start:end]
		k, v := param, ""
		if eq := strings.IndexByte(param, '='); eq >= 0 {
			k, v = param[:eq], param[eq+1:]
		}
		if _, seen := first[k]; !seen {
			first[k] = v
		}
		start = end + 1
	}
	v, ok := first[name]
	return v, ok
}

func FuzzKeyRequest(f *testing.F) {
	f.Add("192.0.2.1:54321", "203.0.113.7, 10.0.0.2", `for="[2001:db8::1]:4711";proto=https`, "198.51.100.3",
		"alice", "bob", "a=1; session=abc", "page=2&id=12345", "/items/1")
	f.Add("10.0.0.1:1", "garbage, 10.0.0.9", "for=_hidden, for=10.0.0.7", "nope", "", "", `session=""; session=x`, "id&id=1", "/")
	f.Add("[2001:db8::1]:443", "[2001:db8::5]:80", `for=198.51.100.1;ext="a\",b", for=10.0.0.3`, "", "\xff", "\xfe", "session=\xc3\x28", "id=%41", "/a%2Fb")
	f.Add("@", ",,,,", ";;,,==", "[::1]", "x", "x", ";;;", "&&&", "*")
	f.Add("[fe80::1%eth0]:80", "::ffff:10.0.0.2", "For=unknown", "1.2.3.4:80", "b, a", "a", " session =v; session=w", "i%64=5&id=", "/x?")
	f.Add("1.2.3.04:80", "1.2.3.4.5", `for="[::1]`, "256.1.1.1", "", "", "session", "id", "")
	f.Fuzz(func(t *testing.T, remote, xff, fwd, realIP, h1, h2, cookieLine, rawQuery, path string) {
		trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
		k, err := affinity.NewKeys(affinity.KeysConfig{
			Policies: []affinity.KeyPolicy{
				{Source: affinity.SourceCookie, Name: "session"},
				{Source: affinity.SourceHeader, Name: "X-User"},
				{Source: affinity.SourceQuery, Name: "id"},
				{Source: affinity.SourcePath},
				{Source: affinity.SourceClientIP},
			},
			TrustedProxies: trusted,
		})
		if err != nil {
			t.Fatal(err)
		}
		r := &http.Request{
			Method:     http.MethodGet,
			RemoteAddr: remote,
			RequestURI: path,
			Host:       "example.com",
			URL:        &url.URL{Path: path, RawQuery: rawQuery},
			Header: http.Header{
				"X-Forwarded-For": {xff},
				"Forwarded":       {fwd},
				"X-Real-Ip":       {realIP},
				"X-User":          {h1, h2},
				"Cookie":          {cookieLine, "session=late"},
			},
		}
		h, ok := k.Hash(r)
		for range 2 {
			if h2, ok2 := k.Hash(r); h2 != h || ok2 != ok {
				t.Fatalf("Hash not deterministic: %#x %v, then %#x %v", h, ok, h2, ok2)
			}
		}
		if req := k.Request(r); req.Hash != h || req.HasHash != ok || req.Attempt != 0 || req.Now != 0 {
			t.Fatalf("Request = %+v, Hash = %#x %v", req, h, ok)
		}

		// Each source against the reference parsers.
		one := func(p affinity.KeyPolicy) (uint64, bool) {
			k, err := affinity.NewKeys(affinity.KeysConfig{Policies: []affinity.KeyPolicy{p}, TrustedProxies: trusted})
			if err != nil {
				t.Fatal(err)
			}
			return k.Hash(r)
		}
		ch, cok := one(affinity.KeyPolicy{Source: affinity.SourceCookie, Name: "session"})
		if v := envoyCookie(r.Header["Cookie"], "session"); cok != (v != "") || (cok && ch != xx(v)) {
			t.Fatalf("cookie hash %#x %v, Envoy's value %q", ch, cok, v)
		}
		qh, qok := one(affinity.KeyPolicy{Source: affinity.SourceQuery, Name: "id"})
		if v, vok := envoyQuery(rawQuery, "id"); qok != vok || (qok && qh != xx(v)) {
			t.Fatalf("query hash %#x %v, Envoy's value %q %v", qh, qok, v, vok)
		}
		if hh, hok := one(affinity.KeyPolicy{Source: affinity.SourceHeader, Name: "x-user"}); !hok || hh != xxChain(h1, h2) {
			t.Fatalf("header hash %#x %v, want %#x", hh, hok, xxChain(h1, h2))
		}

		// The client: what ClientIP says, hashed as HashAddr says.
		a, aok := affinity.ClientIP(r, trusted)
		if ih, iok := one(affinity.KeyPolicy{Source: affinity.SourceClientIP}); iok != aok || (aok && ih != affinity.HashAddr(a)) {
			t.Fatalf("client-ip hash %#x %v, ClientIP %v %v", ih, iok, a, aok)
		}
		// The peer parser agrees with netip wherever netip accepts.
		if ap, err := netip.ParseAddrPort(remote); err == nil {
			peer, ok := affinity.ClientIP(&http.Request{RemoteAddr: remote}, nil)
			if !ok || peer != ap.Addr().Unmap() {
				t.Fatalf("peer %q: ClientIP %v %v, netip %v", remote, peer, ok, ap.Addr())
			}
		}
		if pa, err := netip.ParseAddr(remote); err == nil && pa.Zone() == "" {
			peer, ok := affinity.ClientIP(&http.Request{RemoteAddr: remote}, nil)
			if !ok || peer != pa.Unmap() {
				t.Fatalf("bare peer %q: ClientIP %v %v, netip %v", remote, peer, ok, pa)
			}
		}
		if aok && a.Zone() == "" {
			// A client that is not the peer came from a header and was
			// parsed as netip parses its text.
			if _, err := netip.ParseAddr(a.String()); err != nil {
				t.Fatalf("ClientIP %v does not round-trip", a)
			}
		}
	})
}

func FuzzKeysConfig(f *testing.F) {
	f.Add(uint8(2), "X-User", false, uint8(1), "", true, "10.0.0.0/8", uint8(0))
	f.Add(uint8(3), "session", true, uint8(4), "id", false, "2001:db8::/32", uint8(2))
	f.Add(uint8(0), "", false, uint8(9), "a&b", false, "garbage", uint8(9))
	f.Add(uint8(2), ":authority", false, uint8(2), "bad name", false, "", uint8(3))
	f.Add(uint8(5), "x", false, uint8(1), "x", false, "0.0.0.0/0", uint8(1))
	f.Fuzz(func(t *testing.T, s1 uint8, n1 string, t1 bool, s2 uint8, n2 string, t2 bool, prefix string, fwd uint8) {
		cfg := affinity.KeysConfig{
			Policies: []affinity.KeyPolicy{
				{Source: affinity.Source(s1), Name: n1, Terminal: t1},
				{Source: affinity.Source(s2), Name: n2, Terminal: t2},
			},
			ForwardHeader: affinity.ForwardHeader(fwd),
		}
		if p, err := netip.ParsePrefix(prefix); err == nil {
			cfg.TrustedProxies = []netip.Prefix{p}
		} else if prefix != "" {
			cfg.TrustedProxies = []netip.Prefix{{}} // an invalid one
		}
		k, err := affinity.NewKeys(cfg)
		if err != nil {
			if k != nil || !errors.Is(err, affinity.ErrKeyConfig) || !strings.HasPrefix(err.Error(), "affinity: ") {
				t.Fatalf("NewKeys = %v, %v", k, err)
			}
			return
		}
		for _, p := range cfg.Policies {
			if p.Source < affinity.SourceClientIP || p.Source > affinity.SourcePath {
				t.Fatalf("accepted source %v", p.Source)
			}
			if (p.Source == affinity.SourceClientIP || p.Source == affinity.SourcePath) != (p.Name == "") {
				t.Fatalf("accepted %v with name %q", p.Source, p.Name)
			}
		}
		r := &http.Request{
			Method: http.MethodGet, RemoteAddr: "10.1.2.3:4", RequestURI: "/a?b=c", Host: "example.com",
			URL: &url.URL{Path: "/a", RawQuery: "b=c"},
			Header: http.Header{
				"X-Forwarded-For": {"203.0.113.7"}, "Cookie": {n1 + "=v"},
				http.CanonicalHeaderKey(n1): {"v1"}, http.CanonicalHeaderKey(n2): {"v2"},
			},
		}
		h, ok := k.Hash(r)
		if h2, ok2 := k.Hash(r); h != h2 || ok != ok2 {
			t.Fatal("Hash not deterministic")
		}
		_, _ = k.ClientIP(r)
	})
}
