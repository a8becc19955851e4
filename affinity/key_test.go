package affinity_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
)

// The expected hashes below are built here, from the strings Envoy hashes
// and the combination rules of Envoy's source/common/http/hash_policy.cc,
// written out by hand rather than through the package.

// xx is HashUtil::xxHash64(s): XXH64, seed 0.
func xx(s string) uint64 { return xxhash.Sum64String(s) }

// xxChain is HashUtil::xxHash64(span) over the values sorted bytewise:
// each value hashed with the previous hash as its seed, from 0.
func xxChain(vals ...string) uint64 {
	sorted := append([]string(nil), vals...)
	sort.Strings(sorted)
	var h uint64
	for _, v := range sorted {
		d := xxhash.NewWithSeed(h)
		_, _ = d.WriteString(v)
		h = d.Sum64()
	}
	return h
}

// rotl1 is generateHash's rotation: (h << 1) | (h >> 63).
func rotl1(h uint64) uint64 { return h<<1 | h>>63 }

func newKeys(t testing.TB, cfg affinity.KeysConfig) *affinity.Keys {
	t.Helper()
	k, err := affinity.NewKeys(cfg)
	require.NoError(t, err)
	return k
}

func policies(ps ...affinity.KeyPolicy) affinity.KeysConfig {
	return affinity.KeysConfig{Policies: ps}
}

func header(name string) affinity.KeyPolicy {
	return affinity.KeyPolicy{Source: affinity.SourceHeader, Name: name}
}

func cookie(name string) affinity.KeyPolicy {
	return affinity.KeyPolicy{Source: affinity.SourceCookie, Name: name}
}

func query(name string) affinity.KeyPolicy {
	return affinity.KeyPolicy{Source: affinity.SourceQuery, Name: name}
}

func terminal(p affinity.KeyPolicy) affinity.KeyPolicy { p.Terminal = true; return p }

var (
	clientIPPolicy = affinity.KeyPolicy{Source: affinity.SourceClientIP}
	pathPolicy     = affinity.KeyPolicy{Source: affinity.SourcePath}
)

// req returns a server-side request for target from remote, with the
// header lines given as "Name: value".
func req(target, remote string, lines ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = remote
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		r.Header.Add(name, strings.TrimSpace(value))
	}
	return r
}

func hashOf(t *testing.T, k *affinity.Keys, r *http.Request) (uint64, bool) {
	t.Helper()
	h, ok := k.Hash(r)
	h2, ok2 := k.Hash(r)
	require.Equal(t, h, h2, "Hash is deterministic")
	require.Equal(t, ok, ok2)
	res := k.Request(r)
	require.Equal(t, balancer.Request{Hash: h, HasHash: ok}, res, "Request carries Hash, Attempt 0, Now 0")
	return h, ok
}

func TestXXH64Vectors(t *testing.T) {
	// The reference implementation's published values, so that the
	// goldens below rest on XXH64 itself and not only on this library.
	assert.Equal(t, uint64(0xef46db3751d8e999), xx(""))
	assert.Equal(t, uint64(0x44bc2cf5ad770999), xx("abc"))
}

func TestKeyGolden(t *testing.T) {
	const peer = "192.0.2.1:54321"
	tests := []struct {
		name   string
		policy affinity.KeyPolicy
		r      *http.Request
		want   uint64
		ok     bool
	}{
		{"header", header("x-user"), req("/", peer, "X-User: alice"), xx("alice"), true},
		{"header name is case-insensitive", header("X-USER"), req("/", peer, "x-user: alice"), xx("alice"), true},
		{"header with commas is one value", header("X-User"), req("/", peer, "X-User: b, a"), xx("b, a"), true},
		{"header lines sorted and chained", header("X-User"), req("/", peer, "X-User: b", "X-User: c", "X-User: a"), xxChain("a", "b", "c"), true},
		{"header chain by hand", header("X-User"), req("/", peer, "X-User: b", "X-User: a"), func() uint64 {
			d := xxhash.NewWithSeed(xx("a"))
			_, _ = d.WriteString("b")
			return d.Sum64()
		}(), true},
		{"header duplicate lines", header("X-User"), req("/", peer, "X-User: a", "X-User: a"), xxChain("a", "a"), true},
		{"header empty value", header("X-User"), req("/", peer, "X-User:"), xx(""), true},
		{"header absent", header("X-User"), req("/", peer, "X-Other: a"), 0, false},
		{"authority", header(":authority"), req("http://shop.example/", peer), xx("shop.example"), true},
		{"host", header("Host"), req("http://shop.example:8080/", peer), xx("shop.example:8080"), true},
		{"method", header(":method"), req("/", peer), xx("GET"), true},
		{"pseudo path", header(":path"), req("/a?b=c", peer), xx("/a?b=c"), true},

		{"cookie", cookie("session"), req("/", peer, "Cookie: a=1; session=abc; b=2"), xx("abc"), true},
		{"cookie quoted", cookie("session"), req("/", peer, `Cookie: session="abc"`), xx("abc"), true},
		{"cookie lone quote kept", cookie("session"), req("/", peer, `Cookie: session="`), xx(`"`), true},
		{"cookie first wins", cookie("session"), req("/", peer, "Cookie: session=one; session=two"), xx("one"), true},
		{"cookie across lines", cookie("session"), req("/", peer, "Cookie: a=1", "Cookie: session=two"), xx("two"), true},
		{"cookie first empty ends search", cookie("session"), req("/", peer, "Cookie: session=; session=x"), 0, false},
		{"cookie quoted empty", cookie("session"), req("/", peer, `Cookie: session=""`), 0, false},
		{"cookie value with =", cookie("session"), req("/", peer, "Cookie: session=a=b"), xx("a=b"), true},
		{"cookie value keeps trailing space", cookie("session"), req("/", peer, "Cookie: session=v ;a=1"), xx("v "), true},
		{"cookie name with trailing space", cookie("session"), req("/", peer, "Cookie: session =v"), 0, false},
		{"cookie leading spaces", cookie("session"), req("/", peer, "Cookie: a=1;     session=v"), xx("v"), true},
		{"cookie piece without =", cookie("session"), req("/", peer, "Cookie: session; session=v"), xx("v"), true},
		{"cookie name is case-sensitive", cookie("session"), req("/", peer, "Cookie: Session=v"), 0, false},
		{"cookie absent", cookie("session"), req("/", peer), 0, false},

		{"query", query("id"), req("/p?a=1&id=42&id=43", peer), xx("42"), true},
		{"query raw value", query("id"), req("/p?id=a%20b+c", peer), xx("a%20b+c"), true},
		{"query raw name", query("id"), req("/p?i%64=5", peer), 0, false},
		{"query without =", query("id"), req("/p?id&id=1", peer), xx(""), true},
		{"query empty value", query("id"), req("/p?id=", peer), xx(""), true},
		{"query empty params", query("id"), req("/p?&&id=7&", peer), xx("7"), true},
		{"query value with =", query("id"), req("/p?id=a=b", peer), xx("a=b"), true},
		{"query after second ?", query("id"), req("/p?x=?&id=9", peer), xx("9"), true},
		{"query absent", query("id"), req("/p?a=1", peer), 0, false},
		{"no query", query("id"), req("/p", peer), 0, false},

		{"path", pathPolicy, req("/cart/1?x=%41", peer), xx("/cart/1?x=%41"), true},
		{"path root", pathPolicy, req("/", peer), xx("/"), true},
		{"path asterisk", pathPolicy, func() *http.Request { r := req("/", peer); r.RequestURI = "*"; return r }(), xx("*"), true},

		{"client IPv4", clientIPPolicy, req("/", "192.0.2.1:54321"), xx("192.0.2.1"), true},
		{"client IPv6", clientIPPolicy, req("/", "[2001:db8::1]:443"), xx("2001:db8::1"), true},
		{"client IPv6 zero runs", clientIPPolicy, req("/", "[2001:db8:0:0:1:0:0:1]:443"), xx("2001:db8::1:0:0:1"), true},
		{"client IPv4-mapped peer", clientIPPolicy, req("/", "[::ffff:192.0.2.1]:80"), xx("192.0.2.1"), true},
		{"client IPv4-compatible peer", clientIPPolicy, req("/", "[::102:304]:80"), xx("::1.2.3.4"), true},
		{"client without port", clientIPPolicy, req("/", "192.0.2.7"), xx("192.0.2.7"), true},
		{"client on a Unix socket", clientIPPolicy, req("/", "@"), 0, false},
		{"client empty", clientIPPolicy, req("/", ""), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeys(t, policies(tt.policy))
			h, ok := hashOf(t, k, tt.r)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, h, "got %#x, want %#x", h, tt.want)
		})
	}
}

func TestKeyPathClientSide(t *testing.T) {
	k := newKeys(t, policies(pathPolicy))
	for target, want := range map[string]string{
		"http://example.com/a%2Fb?q=1": "/a%2Fb?q=1",
		"http://example.com":           "/",
		"http://example.com/x?":        "/x?",
		"http://example.com/a b":       "/a%20b",
	} {
		r, err := http.NewRequest(http.MethodGet, target, nil)
		require.NoError(t, err)
		h, ok := hashOf(t, k, r)
		assert.True(t, ok, target)
		assert.Equal(t, xx(want), h, target)
	}
	r := req("/", "192.0.2.1:1")
	r.Method = http.MethodConnect
	_, ok := k.Hash(r)
	assert.False(t, ok, "CONNECT has no :path")
}

func TestKeyHeaderManyValues(t *testing.T) {
	// More values than are sorted on the stack: the same chain.
	k := newKeys(t, policies(header("X-Tag")))
	var lines, vals []string
	for i := 40; i > 0; i-- {
		v := fmt.Sprintf("v%02d", (i*7)%41)
		vals = append(vals, v)
		lines = append(lines, "X-Tag: "+v)
	}
	h, ok := hashOf(t, k, req("/", "192.0.2.1:1", lines...))
	assert.True(t, ok)
	assert.Equal(t, xxChain(vals...), h)
}

func TestKeyHeaderOrderDoesNotMatter(t *testing.T) {
	k := newKeys(t, policies(header("X-Tag")))
	vals := []string{"delta", "alpha", "", "charlie", "bravo", "alpha", "echo", "\xff", "zulu", "x-ray", "yankee"}
	want, ok := k.Hash(req("/", "192.0.2.1:1", prefix("X-Tag: ", vals)...))
	require.True(t, ok)
	assert.Equal(t, xxChain(vals...), want)
	for i := range 20 {
		perm := append([]string(nil), vals...)
		for j := range perm { // a fixed, varied permutation per i
			l := (j*(i+3) + i) % len(perm)
			perm[j], perm[l] = perm[l], perm[j]
		}
		h, ok := k.Hash(req("/", "192.0.2.1:1", prefix("X-Tag: ", perm)...))
		require.True(t, ok)
		require.Equal(t, want, h, "order %v", perm)
	}
}

func prefix(p string, vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = p + v
	}
	return out
}

func TestKeyChain(t *testing.T) {
	const peer = "192.0.2.1:54321"
	var (
		hUser   = xx("alice")
		hCookie = xx("abc")
		hIP     = xx("192.0.2.1")
		hQuery  = xx("42")
	)
	full := req("/p?id=42", peer, "X-User: alice", "Cookie: session=abc")
	bare := req("/p", peer)
	tests := []struct {
		name string
		ps   []affinity.KeyPolicy
		r    *http.Request
		want uint64
		ok   bool
	}{
		{"two found", []affinity.KeyPolicy{header("X-User"), clientIPPolicy}, full,
			rotl1(hUser) ^ hIP, true},
		{"three found", []affinity.KeyPolicy{header("X-User"), cookie("session"), clientIPPolicy}, full,
			rotl1(rotl1(hUser)^hCookie) ^ hIP, true},
		{"duplicates do not cancel", []affinity.KeyPolicy{header("X-User"), header("X-User")}, full,
			rotl1(hUser) ^ hUser, true},
		{"missing one skipped", []affinity.KeyPolicy{header("X-User"), header("X-Missing"), query("id")}, full,
			rotl1(hUser) ^ hQuery, true},
		{"first missing", []affinity.KeyPolicy{header("X-Missing"), query("id")}, full,
			hQuery, true},
		{"terminal found ends the chain", []affinity.KeyPolicy{terminal(cookie("session")), clientIPPolicy}, full,
			hCookie, true},
		{"terminal not found falls through", []affinity.KeyPolicy{terminal(cookie("session")), clientIPPolicy}, bare,
			hIP, true},
		{"terminal not found after a find ends the chain", []affinity.KeyPolicy{header("X-User"), terminal(header("X-Missing")), clientIPPolicy}, full,
			hUser, true},
		{"terminal after two finds", []affinity.KeyPolicy{header("X-User"), terminal(cookie("session")), clientIPPolicy}, full,
			rotl1(hUser) ^ hCookie, true},
		{"none found", []affinity.KeyPolicy{header("X-User"), cookie("session"), query("id")}, bare,
			0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeys(t, affinity.KeysConfig{Policies: tt.ps})
			h, ok := hashOf(t, k, tt.r)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, h, "got %#x, want %#x", h, tt.want)
		})
	}
}

func TestKeyPinned(t *testing.T) {
	// Literal values, so that a change to the wire format shows here even
	// if it moves the helpers above with it.
	k := newKeys(t, policies(header("X-User"), cookie("session"), clientIPPolicy))
	h, ok := k.Hash(req("/", "192.0.2.1:54321", "X-User: alice", "Cookie: session=abc"))
	require.True(t, ok)
	assert.Equal(t, rotl1(rotl1(xx("alice"))^xx("abc"))^xx("192.0.2.1"), h)
	assert.Equal(t, uint64(0x44bc2cf5ad770999), mustHash(t, policies(cookie("s")), req("/", "192.0.2.1:1", "Cookie: s=abc")))
	assert.Equal(t, uint64(0xef46db3751d8e999), mustHash(t, policies(query("q")), req("/?q", "192.0.2.1:1")))
}

func mustHash(t *testing.T, cfg affinity.KeysConfig, r *http.Request) uint64 {
	t.Helper()
	h, ok := newKeys(t, cfg).Hash(r)
	require.True(t, ok)
	return h
}

func TestKeyBadInput(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	k := newKeys(t, affinity.KeysConfig{
		Policies: []affinity.KeyPolicy{
			clientIPPolicy, header("X-Big"), cookie("c999"), query("q"), pathPolicy,
		},
		TrustedProxies: trusted,
	})
	big := strings.Repeat("a", 64<<10)
	var cookies []string
	for i := range 1000 {
		cookies = append(cookies, fmt.Sprintf("c%d=%d", i, i))
	}
	requests := map[string]*http.Request{
		"nil URL and header":    {RemoteAddr: "192.0.2.1:1"},
		"64 KB header":          req("/", "192.0.2.1:1", "X-Big: "+big),
		"64 KB XFF":             req("/", "192.0.2.1:1", "X-Forwarded-For: "+big),
		"64 KB of spaces XFF":   req("/", "192.0.2.1:1", "X-Forwarded-For: 1.2.3.4,"+strings.Repeat(" ", 64<<10)+"x"),
		"64 KB Forwarded":       req("/", "192.0.2.1:1", "Forwarded: "+strings.Repeat(`for="\\`, 10<<10)),
		"64 KB cookie":          req("/", "192.0.2.1:1", "Cookie: "+big),
		"64 KB of semicolons":   req("/", "192.0.2.1:1", "Cookie: "+strings.Repeat(";", 64<<10)),
		"thousand cookies":      req("/", "192.0.2.1:1", "Cookie: "+strings.Join(cookies, "; ")),
		"invalid UTF-8":         req("/?q=\xff\xfe", "192.0.2.1:1", "X-Big: \xff\xfe", "Cookie: c999=\xc3\x28", "X-Forwarded-For: \xff.1.2.3"),
		"malformed peer":        req("/", "[::1"),
		"peer without port":     req("/", "1.2.3.4:"),
		"peer port only":        req("/", ":80"),
		"peer out of range":     req("/", "999.1.1.1:80"),
		"peer with zone":        req("/", "[fe80::1%eth0]:80"),
		"XFF of brackets":       req("/", "192.0.2.1:1", "X-Forwarded-For: [, ], [], []:, [1.2.3.4], :::::, %, 1.2.3.4%x"),
		"Forwarded punctuation": req("/", "192.0.2.1:1", `Forwarded: ;;,,==;for;for=;for="";for="\";for=""""`),
	}
	for name, r := range requests {
		t.Run(name, func(t *testing.T) {
			require.NotPanics(t, func() {
				h, ok := k.Hash(r)
				h2, ok2 := k.Hash(r)
				assert.Equal(t, h, h2)
				assert.Equal(t, ok, ok2)
				_, _ = k.ClientIP(r)
				_, _ = affinity.ClientIP(r, trusted)
			})
		})
	}
	h, ok := newKeys(t, policies(cookie("c999"))).Hash(requests["thousand cookies"])
	assert.True(t, ok)
	assert.Equal(t, xx("999"), h)
	h, ok = newKeys(t, policies(header("X-Big"))).Hash(requests["64 KB header"])
	assert.True(t, ok)
	assert.Equal(t, xx(big), h)
	h, ok = newKeys(t, policies(header("X-Big"), cookie("c999"), query("q"))).Hash(requests["invalid UTF-8"])
	assert.True(t, ok)
	assert.Equal(t, rotl1(rotl1(xx("\xff\xfe"))^xx("\xc3\x28"))^xx("\xff\xfe"), h)

	_, ok = k.Hash(nil)
	assert.False(t, ok)
	assert.Equal(t, balancer.Request{}, k.Request(nil))
	_, ok = k.ClientIP(nil)
	assert.False(t, ok)
	_, ok = affinity.ClientIP(nil, trusted)
	assert.False(t, ok)
}

func TestNewKeysErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  affinity.KeysConfig
	}{
		{"no policies", affinity.KeysConfig{}},
		{"zero source", policies(affinity.KeyPolicy{})},
		{"unknown source", policies(affinity.KeyPolicy{Source: 99})},
		{"header empty", policies(header(""))},
		{"header space", policies(header("X User"))},
		{"header colon", policies(header("X:User"))},
		{"header unknown pseudo", policies(header(":scheme"))},
		{"header non-ASCII", policies(header("X-Üser"))},
		{"cookie empty", policies(cookie(""))},
		{"cookie with =", policies(cookie("a=b"))},
		{"cookie with ;", policies(cookie("a;b"))},
		{"query empty", policies(query(""))},
		{"query with &", policies(query("a&b"))},
		{"query with =", policies(query("a=b"))},
		{"query with #", policies(query("a#"))},
		{"query with space", policies(query("a b"))},
		{"client IP with a name", policies(affinity.KeyPolicy{Source: affinity.SourceClientIP, Name: "x"})},
		{"path with a name", policies(affinity.KeyPolicy{Source: affinity.SourcePath, Name: "x"})},
		{"second policy bad", policies(header("X-User"), cookie(""))},
		{"invalid trusted prefix", affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: []netip.Prefix{{}}}},
		{"unknown ForwardHeader", affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, ForwardHeader: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := affinity.NewKeys(tt.cfg)
			require.Error(t, err)
			assert.Nil(t, k)
			assert.True(t, errors.Is(err, affinity.ErrKeyConfig))
			assert.True(t, strings.HasPrefix(err.Error(), "affinity: "), err.Error())
		})
	}
	for _, cfg := range []affinity.KeysConfig{
		policies(header("x-user")), policies(header(":Authority")), policies(header("host")),
		policies(header(":method")), policies(header(":path")), policies(cookie("__Host-id")),
		policies(query("a%20b")), policies(query("ü")), policies(clientIPPolicy, pathPolicy),
		{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}},
	} {
		_, err := affinity.NewKeys(cfg)
		assert.NoError(t, err, "%+v", cfg)
	}
}

func TestKeysConfigCopied(t *testing.T) {
	ps := []affinity.KeyPolicy{header("X-User")}
	nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	k := newKeys(t, affinity.KeysConfig{Policies: ps, TrustedProxies: nets})
	ps[0] = cookie("s")
	nets[0] = netip.MustParsePrefix("192.0.2.0/24")
	r := req("/", "10.0.0.1:1", "X-User: alice", "X-Forwarded-For: 192.0.2.9")
	h, ok := k.Hash(r)
	require.True(t, ok)
	assert.Equal(t, xx("alice"), h)
	a, _ := k.ClientIP(r)
	assert.Equal(t, "192.0.2.9", a.String())
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "client-ip", affinity.SourceClientIP.String())
	assert.Equal(t, "header", affinity.SourceHeader.String())
	assert.Equal(t, "cookie", affinity.SourceCookie.String())
	assert.Equal(t, "query", affinity.SourceQuery.String())
	assert.Equal(t, "path", affinity.SourcePath.String())
	assert.Equal(t, "Source(0)", affinity.Source(0).String())
	assert.Equal(t, "any", affinity.AnyForwardHeader.String())
	assert.Equal(t, "X-Forwarded-For", affinity.XForwardedFor.String())
	assert.Equal(t, "Forwarded", affinity.Forwarded.String())
	assert.Equal(t, "X-Real-IP", affinity.XRealIP.String())
	assert.Equal(t, "ForwardHeader(7)", affinity.ForwardHeader(7).String())
}

func TestKeysConcurrent(t *testing.T) {
	k := newKeys(t, affinity.KeysConfig{
		Policies:       []affinity.KeyPolicy{header("X-User"), cookie("session"), clientIPPolicy},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	r := req("/", "10.0.0.1:1", "X-User: b", "X-User: a", "Cookie: session=s", "X-Forwarded-For: 203.0.113.7")
	want, _ := k.Hash(r)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if h, ok := k.Hash(r); !ok || h != want {
					t.Errorf("Hash = %#x, %v; want %#x", h, ok, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
