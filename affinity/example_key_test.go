package affinity_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/ringhash"
)

// A key chain in Envoy's fallback style: the session cookie when there is
// one (terminal, so it alone decides), else the client's IP address as the
// proxies in 10.0.0.0/8 report it. Requests with the same key land on the
// same endpoint of a ring.
func ExampleKeys() {
	keys, err := affinity.NewKeys(affinity.KeysConfig{
		Policies: []affinity.KeyPolicy{
			{Source: affinity.SourceCookie, Name: "session", Terminal: true},
			{Source: affinity.SourceClientIP},
		},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		panic(err)
	}
	bal := balancer.New(ringhash.Config{Compat: ringhash.Envoy})
	if err := bal.Update([]balancer.Backend{{ID: "10.1.0.1:8080"}, {ID: "10.1.0.2:8080"}, {ID: "10.1.0.3:8080"}}); err != nil {
		panic(err)
	}
	pick := func(r *http.Request) string {
		res, err := bal.Pick(keys.Request(r))
		if err != nil {
			panic(err)
		}
		defer res.Done(balancer.DoneInfo{})
		return res.Endpoint.ID
	}

	withCookie := httptest.NewRequest(http.MethodGet, "/cart", nil)
	withCookie.RemoteAddr = "10.0.0.7:41000" // a trusted proxy
	withCookie.Header.Set("X-Forwarded-For", "203.0.113.9")
	withCookie.Header.Set("Cookie", "theme=dark; session=s-1234")

	noCookie := httptest.NewRequest(http.MethodGet, "/", nil)
	noCookie.RemoteAddr = "10.0.0.7:41000"
	noCookie.Header.Set("X-Forwarded-For", "203.0.113.9")

	viaTwoProxies := httptest.NewRequest(http.MethodGet, "/help", nil)
	viaTwoProxies.RemoteAddr = "10.0.0.8:52000"
	viaTwoProxies.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.3")

	h, _ := keys.Hash(withCookie)
	fmt.Println("the cookie alone decides:", h == balancer.HashString("s-1234"))
	h, _ = keys.Hash(noCookie)
	fmt.Println("else the client's IP:    ", h == balancer.HashString("203.0.113.9"))
	fmt.Println(pick(noCookie), pick(viaTwoProxies))
	// Output:
	// the cookie alone decides: true
	// else the client's IP:     true
	// 10.1.0.1:8080 10.1.0.1:8080
}

// Policies that all find a value are folded together, h = rotl64(h, 1) ^
// h_i, as Envoy's HashPolicyImpl::generateHash does; one that finds
// nothing is skipped, and when none finds anything the request has no
// hash, so a hash picker picks as if at random.
func ExampleKeys_chain() {
	keys, err := affinity.NewKeys(affinity.KeysConfig{Policies: []affinity.KeyPolicy{
		{Source: affinity.SourceHeader, Name: "X-Tenant"},
		{Source: affinity.SourceQuery, Name: "user"},
	}})
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/orders?user=alice", nil)
	r.Header.Set("X-Tenant", "acme")
	tenant, user := balancer.HashString("acme"), balancer.HashString("alice")
	h, ok := keys.Hash(r)
	fmt.Println(ok, h == (tenant<<1|tenant>>63)^user)

	r = httptest.NewRequest(http.MethodGet, "/orders?user=alice", nil)
	h, ok = keys.Hash(r)
	fmt.Println(ok, h == user)

	fmt.Printf("%+v\n", keys.Request(httptest.NewRequest(http.MethodGet, "/orders", nil)))
	// Output:
	// true true
	// true true
	// {Hash:0 HasHash:false Attempt:0 Now:0}
}

// ClientIP believes forwarding headers only from trusted proxies, and
// walks them from the right: the first address that is not a trusted
// proxy is the client. What an untrusted peer claims is ignored.
func ExampleClientIP() {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:40000"
	r.Header.Set("X-Forwarded-For", "198.51.100.66, 203.0.113.9, 10.0.0.2")
	ip, _ := affinity.ClientIP(r, trusted)
	fmt.Println(ip) // 198.51.100.66 was written by 203.0.113.9, which is not trusted

	r.RemoteAddr = "192.0.2.44:40000"
	ip, _ = affinity.ClientIP(r, trusted)
	fmt.Println(ip)

	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:40000"
	r.Header.Set("Forwarded", `for="[2001:db8:cafe::17]:4711";proto=https`)
	ip, _ = affinity.ClientIP(r, trusted)
	fmt.Println(ip)
	// Output:
	// 203.0.113.9
	// 192.0.2.44
	// 2001:db8:cafe::17
}

// HashAddr is the key of a client address as Envoy's source_ip policy
// hashes it, for sticky tables keyed by client (kube-proxy's ClientIP
// affinity): XXH64 of the address's text, without a port.
func ExampleHashAddr() {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	ip, _ := affinity.ClientIP(r, nil)
	fmt.Println(affinity.HashAddr(ip) == balancer.HashString("2001:db8::1"))
	// Output:
	// true
}

// NewKeys says what is wrong with a configuration.
func ExampleNewKeys() {
	_, err := affinity.NewKeys(affinity.KeysConfig{Policies: []affinity.KeyPolicy{
		{Source: affinity.SourceCookie, Name: "session id"},
	}})
	fmt.Println(errors.Is(err, affinity.ErrKeyConfig))
	fmt.Println(err)
	// Output:
	// true
	// affinity: invalid key configuration: policy 0 (cookie): name "session id" is not a cookie name (RFC 6265 token)
}
