package affinity_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	const proxy = "10.0.0.1:40000"
	tests := []struct {
		name    string
		r       *http.Request
		trusted []netip.Prefix
		want    string // "" means false
	}{
		{"no trusted proxies: the peer", req("/", proxy, "X-Forwarded-For: 203.0.113.7"), nil, "10.0.0.1"},
		{"untrusted peer, spoofed XFF ignored", req("/", "198.51.100.1:1", "X-Forwarded-For: 203.0.113.7"), trusted, "198.51.100.1"},
		{"untrusted peer, spoofed Forwarded ignored", req("/", "198.51.100.1:1", "Forwarded: for=203.0.113.7"), trusted, "198.51.100.1"},
		{"untrusted peer, spoofed X-Real-IP ignored", req("/", "198.51.100.1:1", "X-Real-IP: 203.0.113.7"), trusted, "198.51.100.1"},
		{"trusted peer, no header", req("/", proxy), trusted, "10.0.0.1"},
		{"trusted peer, one hop", req("/", proxy, "X-Forwarded-For: 203.0.113.7"), trusted, "203.0.113.7"},
		{"rightmost untrusted", req("/", proxy, "X-Forwarded-For: 203.0.113.7, 198.51.100.2, 10.0.0.5"), trusted, "198.51.100.2"},
		{"all trusted: leftmost", req("/", proxy, "X-Forwarded-For: 10.1.1.1, 10.2.2.2"), trusted, "10.1.1.1"},
		{"lines in order", req("/", proxy, "X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 10.0.0.9"), trusted, "203.0.113.7"},
		{"spaces and tabs", req("/", proxy, "X-Forwarded-For: 203.0.113.7 ,\t10.0.0.9\t"), trusted, "203.0.113.7"},
		{"empty entries skipped", req("/", proxy, "X-Forwarded-For: 203.0.113.7,, ,10.0.0.9,"), trusted, "203.0.113.7"},
		{"entry with port", req("/", proxy, "X-Forwarded-For: 198.51.100.2:5555"), trusted, "198.51.100.2"},
		{"IPv6 entry with port", req("/", proxy, "X-Forwarded-For: [2001:db8::5]:80"), trusted, "2001:db8::5"},
		{"IPv6 entry in brackets", req("/", proxy, "X-Forwarded-For: [2001:db8::5]"), trusted, "2001:db8::5"},
		{"IPv6 trusted hop", req("/", proxy, "X-Forwarded-For: 2001:db8::5, 2001:db8:ffff::1"), trusted, "2001:db8::5"},
		{"garbage stops at the last trusted hop", req("/", proxy, "X-Forwarded-For: 203.0.113.7, garbage, 10.0.0.9"), trusted, "10.0.0.9"},
		{"garbage rightmost: the peer", req("/", proxy, "X-Forwarded-For: 203.0.113.7, garbage"), trusted, "10.0.0.1"},
		{"zone refused", req("/", proxy, "X-Forwarded-For: fe80::1%eth0"), trusted, "10.0.0.1"},
		{"IPv4-mapped trusted hop", req("/", proxy, "X-Forwarded-For: 203.0.113.7, ::ffff:10.0.0.2"), trusted, "203.0.113.7"},
		{"IPv4-mapped client kept as written", req("/", proxy, "X-Forwarded-For: ::ffff:203.0.113.7"), trusted, "::ffff:203.0.113.7"},
		{"IPv6 peer trusted", req("/", "[2001:db8:ffff::9]:443", "X-Forwarded-For: 203.0.113.7"), trusted, "203.0.113.7"},
		{"zoned peer trusted", req("/", "[fe80::1%eth0]:443", "X-Forwarded-For: 203.0.113.7"), []netip.Prefix{netip.MustParsePrefix("fe80::/10")}, "203.0.113.7"},
		{"zoned peer untrusted", req("/", "[fe80::1%eth0]:443", "X-Forwarded-For: 203.0.113.7"), trusted, "fe80::1%eth0"},
		{"IPv4-mapped peer as IPv4", req("/", "[::ffff:10.0.0.1]:443", "X-Forwarded-For: 203.0.113.7"), trusted, "203.0.113.7"},
		{"bare IPv6 peer", req("/", "2001:db8::7"), trusted, "2001:db8::7"},
		{"bracketed peer", req("/", "[2001:db8::7]"), trusted, "2001:db8::7"},

		{"Forwarded", req("/", proxy, `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`), trusted, "2001:db8:cafe::17"},
		{"Forwarded trusted hop", req("/", proxy, `Forwarded: for=192.0.2.60;proto=http, for=10.9.9.9`), trusted, "192.0.2.60"},
		{"Forwarded quoted IPv6", req("/", proxy, `Forwarded: for="[2001:db8::1]:4711"`), trusted, "2001:db8::1"},
		{"Forwarded quoted IPv4", req("/", proxy, `Forwarded: For="192.0.2.61"`), trusted, "192.0.2.61"},
		{"Forwarded param order", req("/", proxy, `Forwarded: proto=https; for=192.0.2.62 ;by=10.0.0.1`), trusted, "192.0.2.62"},
		{"Forwarded obfuscated rightmost: the peer", req("/", proxy, `Forwarded: for=198.51.100.9, for=_hidden`), trusted, "10.0.0.1"},
		{"Forwarded obfuscated beyond a trusted hop", req("/", proxy, `Forwarded: for=_hidden, for=10.0.0.7`), trusted, "10.0.0.7"},
		{"Forwarded unknown", req("/", proxy, `Forwarded: for=unknown, for=10.0.0.7`), trusted, "10.0.0.7"},
		{"Forwarded comma inside quotes", req("/", proxy, `Forwarded: for=198.51.100.1;ext="a,b", for=10.0.0.3`), trusted, "198.51.100.1"},
		{"Forwarded escaped quote", req("/", proxy, `Forwarded: for=198.51.100.1;ext="a\",b", for=10.0.0.3`), trusted, "198.51.100.1"},
		{"Forwarded without for", req("/", proxy, `Forwarded: by=10.0.0.2;proto=https`), trusted, "10.0.0.1"},
		{"Forwarded unterminated quote", req("/", proxy, `Forwarded: for="[2001:db8::1]`), trusted, "10.0.0.1"},
		{"Forwarded lines", req("/", proxy, `Forwarded: for=192.0.2.60`, `Forwarded: for=10.0.0.8`), trusted, "192.0.2.60"},

		{"X-Real-IP", req("/", proxy, "X-Real-IP: 203.0.113.9"), trusted, "203.0.113.9"},
		{"X-Real-IP trusted", req("/", proxy, "X-Real-IP: 10.0.0.77"), trusted, "10.0.0.77"},
		{"X-Real-IP garbage", req("/", proxy, "X-Real-IP: nope"), trusted, "10.0.0.1"},

		{"XFF before Forwarded", req("/", proxy, "Forwarded: for=192.0.2.60", "X-Forwarded-For: 203.0.113.7", "X-Real-IP: 198.51.100.3"), trusted, "203.0.113.7"},
		{"Forwarded before X-Real-IP", req("/", proxy, "Forwarded: for=192.0.2.60", "X-Real-IP: 198.51.100.3"), trusted, "192.0.2.60"},

		{"Unix socket peer", req("/", "@", "X-Forwarded-For: 203.0.113.7"), trusted, ""},
		{"malformed peer", req("/", "not an address", "X-Forwarded-For: 203.0.113.7"), trusted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := affinity.ClientIP(tt.r, tt.trusted)
			if tt.want == "" {
				assert.False(t, ok, "got %v", a)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tt.want, a.String())
			// The client-IP policy hashes the same address.
			k := newKeys(t, affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: tt.trusted})
			h, ok := hashOf(t, k, tt.r)
			require.True(t, ok)
			assert.Equal(t, affinity.HashAddr(a), h)
			ka, ok := k.ClientIP(tt.r)
			require.True(t, ok)
			assert.Equal(t, a, ka)
		})
	}
}

func TestClientIPForwardHeader(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	r := req("/", "10.0.0.1:1", "Forwarded: for=192.0.2.60", "X-Forwarded-For: 203.0.113.7", "X-Real-IP: 198.51.100.3")
	for fh, want := range map[affinity.ForwardHeader]string{
		affinity.AnyForwardHeader: "203.0.113.7",
		affinity.XForwardedFor:    "203.0.113.7",
		affinity.Forwarded:        "192.0.2.60",
		affinity.XRealIP:          "198.51.100.3",
	} {
		k := newKeys(t, affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: trusted, ForwardHeader: fh})
		a, ok := k.ClientIP(r)
		require.True(t, ok)
		assert.Equal(t, want, a.String(), fh.String())
	}
	// A named header that is absent leaves the peer, even with others present.
	k := newKeys(t, affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: trusted, ForwardHeader: affinity.Forwarded})
	a, ok := k.ClientIP(req("/", "10.0.0.1:1", "X-Forwarded-For: 203.0.113.7"))
	require.True(t, ok)
	assert.Equal(t, "10.0.0.1", a.String())
}

func TestClientIPHopLimit(t *testing.T) {
	// 10,000 trusted entries: the walk stops after MaxForwardHops of them,
	// at the MaxForwardHops-th from the right, and allocates nothing.
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	const n = 10000
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)
	}
	r := req("/", "10.0.0.1:1", "X-Forwarded-For: "+strings.Join(entries, ", "))
	a, ok := affinity.ClientIP(r, trusted)
	require.True(t, ok)
	assert.Equal(t, entries[n-affinity.MaxForwardHops], a.String())
	assert.Zero(t, testing.AllocsPerRun(20, func() { _, _ = affinity.ClientIP(r, trusted) }))

	// An untrusted client within reach is found.
	entries[n-affinity.MaxForwardHops] = "203.0.113.1"
	r = req("/", "10.0.0.1:1", "X-Forwarded-For: "+strings.Join(entries, ", "))
	a, _ = affinity.ClientIP(r, trusted)
	assert.Equal(t, "203.0.113.1", a.String())

	// One beyond reach is not.
	entries[n-affinity.MaxForwardHops] = "10.0.0.0"
	entries[n-affinity.MaxForwardHops-1] = "203.0.113.1"
	r = req("/", "10.0.0.1:1", "X-Forwarded-For: "+strings.Join(entries, ", "))
	a, _ = affinity.ClientIP(r, trusted)
	assert.Equal(t, "10.0.0.0", a.String())

	// Empty entries count as hops too, so commas alone cannot make work.
	r = req("/", "10.0.0.1:1", "X-Forwarded-For: 203.0.113.1"+strings.Repeat(",", n))
	a, _ = affinity.ClientIP(r, trusted)
	assert.Equal(t, "10.0.0.1", a.String())
}

func TestHashAddr(t *testing.T) {
	// The right-hand strings are what glibc's inet_ntop writes for the
	// left-hand addresses (checked with Python's socket.inet_ntop, which
	// calls it); Envoy's Ipv6Instance::makeFriendlyAddress uses inet_ntop.
	for in, envoy := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"0.0.0.0":              "0.0.0.0",
		"2001:db8::1":          "2001:db8::1",
		"2001:DB8:0:0:1::1":    "2001:db8::1:0:0:1",
		"1:0:0:1:0:0:0:1":      "1:0:0:1::1",
		"1:0:0:0:1:0:0:1":      "1::1:0:0:1",
		"::":                   "::",
		"::1":                  "::1",
		"::1:0:0":              "::1:0:0",
		"::ffff:1.2.3.4":       "::ffff:1.2.3.4",
		"::ffff:0:1.2.3.4":     "::ffff:0:102:304",
		"::102:304":            "::1.2.3.4",
		"::1:0":                "::0.1.0.0",
		"::2:3:4:5:6:7":        "::2:3:4:5:6:7",
		"::2":                  "::2",
		"::1:2":                "::0.1.0.2",
		"::ffff:0.0.0.0":       "::ffff:0.0.0.0",
		"1::":                  "1::",
		"1:2:3:4:5:6:7:8":      "1:2:3:4:5:6:7:8",
		"abcd:ef01:0:0:ffff::": "abcd:ef01:0:0:ffff::",
		"fe80::1%eth0":         "fe80::1%eth0",
		"::102:304%eth0":       "::1.2.3.4%eth0",
	} {
		a := netip.MustParseAddr(in)
		assert.Equal(t, xx(envoy), affinity.HashAddr(a), "%s is written %q", in, envoy)
	}
	assert.Equal(t, xx(""), affinity.HashAddr(netip.Addr{}))
	long := netip.MustParseAddr("fe80::1").WithZone(strings.Repeat("z", 100))
	assert.Equal(t, xx("fe80::1%"+strings.Repeat("z", 100)), affinity.HashAddr(long))
}

func TestHashAddrMatchesNetip(t *testing.T) {
	// Apart from IPv4-compatible addresses, inet_ntop's text is netip's
	// (RFC 5952). Addresses heavy in zero and ffff groups, seeded.
	rng := rand.New(rand.NewPCG(1, 2))
	groups := []uint16{0, 0, 0, 0, 0xffff, 1, 0x10, 0x100, 0x1000, 0xabcd}
	for range 20000 {
		var b [16]byte
		for i := 0; i < 16; i += 2 {
			g := groups[rng.IntN(len(groups))]
			b[i], b[i+1] = byte(g>>8), byte(g)
		}
		a := netip.AddrFrom16(b)
		want := a.String()
		if compat := b == [16]byte{12: b[12], 13: b[13], 14: b[14], 15: b[15]} && b[12]|b[13] != 0; compat {
			want = "::" + netip.AddrFrom4([4]byte(b[12:])).String()
		}
		require.Equal(t, xx(want), affinity.HashAddr(a), "%s is written %q", a, want)
	}
}
