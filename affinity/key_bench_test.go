package affinity_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
)

// allocCases are one request per source, shared by the allocation test
// and the benchmarks.
func allocCases(t testing.TB) []struct {
	name string
	k    *affinity.Keys
	r    *http.Request
} {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	mk := func(cfg affinity.KeysConfig) *affinity.Keys { return newKeys(t, cfg) }
	return []struct {
		name string
		k    *affinity.Keys
		r    *http.Request
	}{
		{"header", mk(policies(header("X-User"))), req("/", "192.0.2.1:54321", "X-User: alice")},
		{"header-3-values", mk(policies(header("X-User"))), req("/", "192.0.2.1:54321", "X-User: c", "X-User: a", "X-User: b")},
		{"cookie", mk(policies(cookie("session"))), req("/", "192.0.2.1:54321", "Cookie: theme=dark; session=0123456789abcdef; lang=en")},
		{"client-ip", mk(policies(clientIPPolicy)), req("/", "192.0.2.1:54321")},
		{"client-ip-v6", mk(policies(clientIPPolicy)), req("/", "[2001:db8::1]:54321")},
		{"client-ip-xff-trusted", mk(affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: trusted}),
			req("/", "10.0.0.1:54321", "X-Forwarded-For: 203.0.113.7, 10.0.0.2")},
		{"client-ip-forwarded", mk(affinity.KeysConfig{Policies: []affinity.KeyPolicy{clientIPPolicy}, TrustedProxies: trusted}),
			req("/", "10.0.0.1:54321", `Forwarded: for="[2001:db8::1]:4711";proto=https`)},
		{"query", mk(policies(query("id"))), req("/items?page=2&id=12345&sort=asc", "192.0.2.1:54321")},
		{"path", mk(policies(pathPolicy)), req("/items/12345?page=2", "192.0.2.1:54321")},
		{"chain", mk(policies(terminal(cookie("session")), header("X-User"), clientIPPolicy)),
			req("/", "192.0.2.1:54321", "X-User: alice")},
	}
}

func TestKeyAllocs(t *testing.T) {
	for _, c := range allocCases(t) {
		_, ok := c.k.Hash(c.r)
		require.True(t, ok, c.name)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = c.k.Hash(c.r) }), c.name)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _ = c.k.Request(c.r) }), c.name)
	}
	r := req("/", "192.0.2.1:1")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = affinity.ClientIP(r, nil) }))
	a := netip.MustParseAddr("::102:304")
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = affinity.HashAddr(a) }))
}

func BenchmarkKey(b *testing.B) {
	for _, c := range allocCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink uint64
			for b.Loop() {
				h, _ := c.k.Hash(c.r)
				sink += h
			}
			_ = sink
		})
	}
}

func BenchmarkKeyParallel(b *testing.B) {
	for _, c := range allocCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var sink uint64
				for pb.Next() {
					h, _ := c.k.Hash(c.r)
					sink += h
				}
				_ = sink
			})
		})
	}
}
