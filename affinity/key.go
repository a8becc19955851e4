package affinity

import (
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"

	"github.com/lbkit/lbkit/balancer"
)

// Request keys, as Envoy's route hash policies make them
// (envoy.config.route.v3.RouteAction.HashPolicy, implemented in Envoy's
// source/common/http/hash_policy.cc), for net/http requests. Keys is the
// chain and its rules; the extractors are in extract.go and clientip.go.
// What each source hashes is a wire format, pinned by the golden tests in
// key_test.go against strings written out from Envoy's C++.

// ErrKeyConfig is wrapped by the errors NewKeys returns.
var ErrKeyConfig = errors.New("affinity: invalid key configuration")

// Source says where a KeyPolicy finds a request's key.
type Source uint8

const (
	// SourceClientIP hashes the client's IP address, Envoy's
	// connection_properties source_ip. Name must be empty.
	SourceClientIP Source = 1 + iota
	// SourceHeader hashes every value of the header Name, Envoy's header
	// policy. Name is case-insensitive: it is looked up in its canonical
	// form, as net/http stores the headers it receives. Besides header
	// names it may
	// be one of Envoy's pseudo-headers ":authority" (the request's Host),
	// ":path" (as SourcePath) or ":method"; "Host" reads the request's
	// Host too, since net/http keeps it out of Header.
	SourceHeader
	// SourceCookie hashes the value of the cookie Name, Envoy's cookie
	// policy. Name is case-sensitive.
	SourceCookie
	// SourceQuery hashes the raw value of the query parameter Name,
	// Envoy's query_parameter policy. Name is compared with the raw,
	// still percent-encoded parameter name.
	SourceQuery
	// SourcePath hashes the request target, path and query string, as an
	// Envoy header policy on ":path" does. Name must be empty.
	SourcePath
)

// String returns the source's name.
func (s Source) String() string {
	switch s {
	case SourceClientIP:
		return "client-ip"
	case SourceHeader:
		return "header"
	case SourceCookie:
		return "cookie"
	case SourceQuery:
		return "query"
	case SourcePath:
		return "path"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// KeyPolicy is one link of a key chain. The zero KeyPolicy is not valid:
// it has no Source.
type KeyPolicy struct {
	// Source is where the key comes from. Required.
	Source Source
	// Name is the header, cookie or query parameter to read; it must be
	// empty for SourceClientIP and SourcePath.
	Name string
	// Terminal ends the chain after this policy when a hash exists by
	// then, whether this policy or an earlier one found it, as Envoy's
	// terminal flag does: a fallback chain such as "the session cookie,
	// terminal; else the client IP" hashes the cookie alone when there is
	// one.
	Terminal bool
}

// KeysConfig configures request keys. NewKeys copies what it keeps:
// changing a KeysConfig afterwards does not change the Keys made from it.
type KeysConfig struct {
	// Policies are evaluated in order; see Keys. At least one.
	Policies []KeyPolicy
	// TrustedProxies are the networks of the proxies in front of this one
	// whose forwarding headers are believed, for SourceClientIP and
	// Keys.ClientIP; see ClientIP. Empty means none: the client is the
	// direct peer and no header is read.
	TrustedProxies []netip.Prefix
	// ForwardHeader is the header the trusted proxies record clients in.
	// Zero (AnyForwardHeader) means the first present of X-Forwarded-For,
	// Forwarded and X-Real-IP; name the one your proxies write when you
	// can, since a client may send the others.
	ForwardHeader ForwardHeader
}

// Keys computes request keys for hash pickers (ringhash, maglev) from
// net/http requests, with Envoy's hash-policy semantics and hash values, so
// that a proxy built on lbkit and an Envoy configured with the same
// policies give a request the same hash, and pick the same endpoint of
// the same ring or Maglev table.
//
// Hash evaluates the policies in order, as Envoy's
// HashPolicyImpl::generateHash does:
//
//   - a policy that finds its value hashes it (XXH64, seed 0) and folds
//     that hash h_i into the running hash: h = rotl64(h, 1) ^ h_i, from
//     h = 0, so a lone policy's hash is h_i itself and two identical
//     policies do not cancel out;
//   - a policy that finds nothing is skipped;
//   - after a Terminal policy the chain stops if a hash exists by then,
//     found by that policy or by an earlier one;
//   - when no policy found anything the request has no hash.
//
// What each source hashes (h_i), exactly:
//
//   - SourceClientIP, Envoy's connection_properties source_ip: the
//     address's text, IPv4 dotted decimal, IPv6 as glibc's inet_ntop
//     writes it (RFC 5952, no brackets), never a port; HashAddr. Which
//     address: see ClientIP.
//   - SourceHeader, Envoy's header: every value of the header, one per
//     header line as received (not split at commas), sorted bytewise and
//     chained through the seed, h_i = XXH64(v_n, seed=XXH64(v_n-1, ...
//     seed=XXH64(v_1, seed=0))), Envoy's HashUtil::xxHash64 over a span
//     (source/common/common/hash.cc). The order of the lines does not
//     matter. A header present with an empty value has a hash; an absent
//     one has none.
//   - SourceCookie, Envoy's cookie: the value of the first cookie of that
//     name across the Cookie header lines, with one pair of surrounding
//     double quotes removed, as Utility::parseCookieValue reads it; an
//     empty value means no hash. Envoy's option to issue the cookie when
//     there is none (ttl) is not here: Cookies does sessions.
//   - SourceQuery, Envoy's query_parameter: the raw, still
//     percent-encoded value of the first parameter whose raw name equals
//     Name (Utility::QueryParamsMulti::parseQueryString does not decode);
//     "?id" and "?id=" both have the empty value, which has a hash.
//   - SourcePath: Envoy has no path policy. Its equivalent is a header
//     policy on ":path", which hashes the request target as received,
//     path and query string, percent-encoding intact; SourcePath hashes
//     exactly that, so "/cart?id=1" and "/cart?id=2" differ as they do in
//     Envoy. A key of the path alone is a header the caller sets, or a
//     query parameter.
//
// A Keys is immutable and safe for concurrent use by multiple goroutines.
// Hash and Request allocate nothing, except to sort more than eight lines
// of one header, to read a client address with an IPv6 zone, or to escape
// the path of a request built in this process whose URL has no valid
// RawPath.
type Keys struct {
	policies []policy
	proxies  []netip.Prefix
	forward  ForwardHeader
}

// policy is a validated KeyPolicy.
type policy struct {
	kind     kind
	name     string // canonical header key, cookie name and "=", or query name
	terminal bool
}

type kind uint8

const (
	kindClientIP kind = iota
	kindHeader
	kindCookie
	kindQuery
	kindPath
	kindHost
	kindMethod
)

// NewKeys returns the keys cfg describes, or an error wrapping
// ErrKeyConfig: no policy, an unknown source, a missing or invalid name
// (not an HTTP token for a header or cookie; "&", "=", "#", a space or a
// control character for a query parameter), a name where none belongs, an
// invalid trusted prefix, an unknown ForwardHeader.
func NewKeys(cfg KeysConfig) (*Keys, error) {
	if len(cfg.Policies) == 0 {
		return nil, fmt.Errorf("%w: no policies", ErrKeyConfig)
	}
	k := &Keys{policies: make([]policy, len(cfg.Policies)), forward: cfg.ForwardHeader}
	for i, p := range cfg.Policies {
		c, err := compile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: policy %d (%v): %s", ErrKeyConfig, i, p.Source, err)
		}
		k.policies[i] = c
	}
	if cfg.ForwardHeader > XRealIP {
		return nil, fmt.Errorf("%w: unknown ForwardHeader %d", ErrKeyConfig, uint8(cfg.ForwardHeader))
	}
	if len(cfg.TrustedProxies) > 0 {
		k.proxies = make([]netip.Prefix, len(cfg.TrustedProxies))
		for i, p := range cfg.TrustedProxies {
			if !p.IsValid() {
				return nil, fmt.Errorf("%w: trusted proxy %d (%v) is not a valid prefix", ErrKeyConfig, i, p)
			}
			k.proxies[i] = p.Masked()
		}
	}
	return k, nil
}

// compile validates p; its error is a bare reason for NewKeys to wrap.
func compile(p KeyPolicy) (policy, error) {
	c := policy{name: p.Name, terminal: p.Terminal}
	switch p.Source {
	case SourceClientIP, SourcePath:
		if p.Name != "" {
			return c, fmt.Errorf("takes no name, got %q", p.Name)
		}
		c.kind = kindClientIP
		if p.Source == SourcePath {
			c.kind = kindPath
		}
	case SourceHeader:
		switch name := p.Name; {
		case strings.EqualFold(name, "host"), strings.EqualFold(name, ":authority"):
			c.kind = kindHost
		case strings.EqualFold(name, ":path"):
			c.kind = kindPath
		case strings.EqualFold(name, ":method"):
			c.kind = kindMethod
		default:
			if !isToken(p.Name) {
				return c, fmt.Errorf("name %q is not an HTTP header name", p.Name)
			}
			c.kind, c.name = kindHeader, textproto.CanonicalMIMEHeaderKey(p.Name)
		}
	case SourceCookie:
		if !validCookieName(p.Name) {
			return c, fmt.Errorf("name %q is not a cookie name (RFC 6265 token)", p.Name)
		}
		c.kind, c.name = kindCookie, p.Name+"="
	case SourceQuery:
		if !validQueryName(p.Name) {
			return c, fmt.Errorf("name %q cannot name a raw query parameter (empty, or has '&', '=', '#', a space or a control character)", p.Name)
		}
		c.kind = kindQuery
	default:
		return c, errors.New("unknown source")
	}
	return c, nil
}

// Hash returns r's key hash and whether any policy found a value; see
// Keys for how the policies combine. A nil request has no hash.
func (k *Keys) Hash(r *http.Request) (uint64, bool) {
	if r == nil {
		return 0, false
	}
	var h uint64
	found := false
	for i := range k.policies {
		p := &k.policies[i]
		if v, ok := k.eval(p, r); ok {
			// generateHash: rotate the old value left one bit so that
			// duplicate policies do not cancel, then XOR; rotl(0) is 0,
			// so the first hash found is taken as it is.
			h = bits.RotateLeft64(h, 1) ^ v
			found = true
		}
		if p.terminal && found {
			break
		}
	}
	return h, found
}

// Request returns the balancer.Request for r: its hash, if any, the first
// attempt, and a zero Now (the picker reads the clock if it needs to).
func (k *Keys) Request(r *http.Request) balancer.Request {
	h, ok := k.Hash(r)
	return balancer.Request{Hash: h, HasHash: ok}
}

// ClientIP returns r's client address as the SourceClientIP policy sees
// it: ClientIP with the configured trusted proxies and ForwardHeader.
func (k *Keys) ClientIP(r *http.Request) (netip.Addr, bool) {
	if r == nil {
		return netip.Addr{}, false
	}
	h, ok := clientIP(r, k.proxies, k.forward)
	return h.addr, ok
}

// eval returns the hash of p's value in r, if r has one.
func (k *Keys) eval(p *policy, r *http.Request) (uint64, bool) {
	switch p.kind {
	case kindClientIP:
		h, ok := clientIP(r, k.proxies, k.forward)
		if !ok {
			return 0, false
		}
		return h.hash(), true
	case kindHeader:
		return hashHeader(r.Header[p.name])
	case kindCookie:
		return hashCookie(r.Header["Cookie"], p.name)
	case kindQuery:
		if r.URL == nil {
			return 0, false
		}
		return hashQuery(r.URL.RawQuery, p.name)
	case kindPath:
		return hashPath(r)
	case kindHost:
		if r.Host == "" {
			return 0, false
		}
		return hashString(r.Host), true
	case kindMethod:
		if r.Method == "" {
			return hashString(http.MethodGet), true
		}
		return hashString(r.Method), true
	}
	return 0, false
}

// isToken reports whether s is an RFC 9110 token, the form of a header
// name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch <= ' ' || ch >= 0x7f {
			return false
		}
		switch ch {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
			return false
		}
	}
	return true
}

// validQueryName reports whether s can equal a raw query parameter name:
// non-empty, and free of the bytes that end a name ("&", "="), that cannot
// be in a query ("#") or that a request target cannot carry unencoded.
func validQueryName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch <= ' ', ch == 0x7f, ch == '&', ch == '=', ch == '#':
			return false
		}
	}
	return true
}
