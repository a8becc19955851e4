package affinity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/lbkit/lbkit/balancer"
)

// Cookie sessions, as HAProxy's "cookie SRV insert" and Envoy's stateful
// sessions keep them: the proxy answers a client's first request with a
// cookie naming the endpoint that served it, and sends the client's later
// requests that carry it to the same endpoint while that endpoint is in the
// set and healthy.
//
// The cookie is opaque and authenticated: it holds a version byte, the
// time it was issued, the XXH64 hash of the endpoint's ID (not the ID) and
// an HMAC-SHA256 of those, truncated to 128 bits, under a key the user
// supplies; base64url without padding, 44 characters. A client cannot
// forge one for an endpoint of its choosing, nor read which endpoint it
// names. Keys rotate: the first signs, every key verifies, and a cookie
// verified by an older key is issued anew under the first. A cookie that
// is missing, malformed, tampered with, signed by an unknown key, expired,
// or that names an endpoint no longer in the set or not healthy is never
// an error: the request goes through the Balancer and gets a new cookie.

// ErrCookieConfig is wrapped by the errors NewCookies returns.
var ErrCookieConfig = errors.New("affinity: invalid cookie configuration")

// DefaultCookieName is the cookie's name when CookieConfig.Name is empty.
const DefaultCookieName = "lbkit-session"

// MinCookieKeyLen is the shortest HMAC key NewCookies accepts, in bytes.
const MinCookieKeyLen = 16

// CookieConfig configures cookie sessions.
type CookieConfig struct {
	// Name is the cookie's name. Empty means DefaultCookieName.
	Name string
	// Keys are the HMAC keys, each at least MinCookieKeyLen bytes (32
	// random bytes are right): Keys[0] signs new cookies, every key
	// verifies. To rotate, put the new key first and keep the old one
	// until the cookies it signed have expired. Required.
	Keys [][]byte
	// TTL is how long a cookie is honoured after it was issued, and its
	// Max-Age. Zero means a browser-session cookie (no Max-Age) that the
	// proxy honours however old it is.
	TTL time.Duration
	// Path is the cookie's Path. Empty means "/".
	Path string
	// Secure marks the cookie Secure (sent over HTTPS only).
	Secure bool
	// SameSite is the cookie's SameSite. Zero means http.SameSiteLaxMode.
	SameSite http.SameSite
}

// Cookies issues and honours session cookies for one Balancer. It is safe
// for concurrent use by multiple goroutines.
type Cookies struct {
	cfg    CookieConfig
	needle string      // the name and "=", as cookieValue looks for it
	macs   []sync.Pool // by key: *macState of HMAC-SHA256 under it
	// index maps endpoint ID hashes to the serving endpoints of one
	// Balancer version, rebuilt when the version changes.
	index atomic.Pointer[cookieIndex]
	mu    sync.Mutex // serialises index rebuilds
}

type cookieIndex struct {
	bal     *balancer.Balancer
	version uint64
	byHash  map[uint64]*balancer.Endpoint
}

const (
	cookieVersion = 1
	cookieMACLen  = 16
	cookieRawLen  = 1 + 8 + 8 + cookieMACLen // version, issued (Unix s), ID hash, MAC

	cookieSignedLen = cookieRawLen - cookieMACLen // what the MAC signs
)

// cookieEncodedLen is the length of a cookie value: unpadded base64.
const cookieEncodedLen = (cookieRawLen*8 + 5) / 6

// NewCookies returns cookie sessions configured by cfg, or an error
// wrapping ErrCookieConfig: no key, a key shorter than MinCookieKeyLen, a
// negative TTL, a name that is not a valid cookie name.
func NewCookies(cfg CookieConfig) (*Cookies, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultCookieName
	}
	if !validCookieName(cfg.Name) {
		return nil, fmt.Errorf("%w: name %q is not a cookie name (RFC 6265 token)", ErrCookieConfig, cfg.Name)
	}
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("%w: no key; give at least one of %d bytes or more", ErrCookieConfig, MinCookieKeyLen)
	}
	for i, k := range cfg.Keys {
		if len(k) < MinCookieKeyLen {
			return nil, fmt.Errorf("%w: key %d has %d bytes, want at least %d", ErrCookieConfig, i, len(k), MinCookieKeyLen)
		}
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("%w: TTL is %v, want 0 (a browser session) or more", ErrCookieConfig, cfg.TTL)
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.SameSite == 0 {
		cfg.SameSite = http.SameSiteLaxMode
	}
	c := &Cookies{cfg: cfg, needle: cfg.Name + "=", macs: make([]sync.Pool, len(cfg.Keys))}
	for i := range cfg.Keys {
		key := append([]byte(nil), cfg.Keys[i]...)
		c.macs[i].New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	}
	c.cfg.Keys = nil // the pools hold copies
	return c, nil
}

// Name returns the cookie's name.
func (c *Cookies) Name() string { return c.cfg.Name }

// Pick returns the endpoint for r: the one its cookie names, when the
// cookie is valid and the endpoint is in b's set and usable, counted in
// flight; otherwise b.Pick(req). issue says whether the caller should set
// a new cookie (SetCookie) on the response: the request had none, or one
// that could not be honoured, or one signed by an older key. now is in
// Unix nanoseconds; zero means time.Now().
func (c *Cookies) Pick(b *balancer.Balancer, r *http.Request, req balancer.Request, now int64) (res balancer.Result, issue bool, err error) {
	if now == 0 {
		now = time.Now().UnixNano()
	}
	// The first cookie of the name, read as Envoy reads cookies and
	// without allocating, where http.Request.Cookie parses them all.
	value, _ := cookieValue(r.Header["Cookie"], c.needle)
	return c.PickValue(b, value, req, now)
}

// PickValue is Pick for a caller that holds the cookie's value itself
// (a simulator, a protocol other than HTTP): value is the cookie's value,
// empty when the request carried none.
func (c *Cookies) PickValue(b *balancer.Balancer, value string, req balancer.Request, now int64) (res balancer.Result, issue bool, err error) {
	if now == 0 {
		now = time.Now().UnixNano()
	}
	if value != "" {
		if e, current := c.lookup(b, value, now); e != nil {
			return e.Begin(), !current, nil
		}
	}
	res, err = b.Pick(req)
	return res, err == nil, err
}

// SetCookie sets on w the cookie naming e, issued at now (Unix
// nanoseconds; zero means time.Now()).
func (c *Cookies) SetCookie(w http.ResponseWriter, e *balancer.Endpoint, now int64) {
	http.SetCookie(w, c.Cookie(e, now))
}

// Cookie returns the cookie naming e, issued at now (Unix nanoseconds;
// zero means time.Now()).
func (c *Cookies) Cookie(e *balancer.Endpoint, now int64) *http.Cookie {
	if now == 0 {
		now = time.Now().UnixNano()
	}
	var raw [cookieRawLen]byte
	raw[0] = cookieVersion
	binary.BigEndian.PutUint64(raw[1:9], uint64(now/int64(time.Second)))
	binary.BigEndian.PutUint64(raw[9:17], xxhash.Sum64String(e.ID))
	c.sign(0, raw[:17], raw[17:17])
	ck := &http.Cookie{
		Name: c.cfg.Name, Value: base64.RawURLEncoding.EncodeToString(raw[:]),
		Path: c.cfg.Path, Secure: c.cfg.Secure, HttpOnly: true, SameSite: c.cfg.SameSite,
	}
	if c.cfg.TTL > 0 {
		ck.MaxAge = int(max(c.cfg.TTL/time.Second, 1))
	}
	return ck
}

// macState is a pooled HMAC with room for its message and its sum: what
// goes through the hash.Hash interface escapes, so signing from these
// buffers, not the caller's, allocates nothing.
type macState struct {
	h   hash.Hash
	msg [cookieSignedLen]byte
	sum [sha256.Size]byte
}

// sign appends to dst the truncated MAC of msg under key i.
func (c *Cookies) sign(i int, msg, dst []byte) []byte {
	m := c.macs[i].Get().(*macState)
	m.h.Reset()
	m.h.Write(m.msg[:copy(m.msg[:], msg)])
	out := append(dst, m.h.Sum(m.sum[:0])[:cookieMACLen]...)
	c.macs[i].Put(m)
	return out
}

// lookup returns the endpoint a cookie value names, if it is valid and
// the endpoint usable, and whether the cookie is signed by the current
// key and may be kept.
func (c *Cookies) lookup(b *balancer.Balancer, value string, now int64) (*balancer.Endpoint, bool) {
	if len(value) != cookieEncodedLen {
		return nil, false
	}
	var raw [cookieRawLen + 2]byte // room for the decoder's last quantum
	var enc [cookieEncodedLen]byte
	copy(enc[:], value)
	n, err := base64.RawURLEncoding.Decode(raw[:], enc[:])
	if err != nil || n != cookieRawLen || raw[0] != cookieVersion {
		return nil, false
	}
	key := -1
	var mac [cookieMACLen]byte
	for i := range c.macs {
		if hmac.Equal(c.sign(i, raw[:17], mac[:0]), raw[17:cookieRawLen]) {
			key = i
			break
		}
	}
	if key < 0 {
		return nil, false
	}
	issued := int64(binary.BigEndian.Uint64(raw[1:9]))
	if ttl := c.cfg.TTL; ttl > 0 {
		age := now/int64(time.Second) - issued
		if age < 0 || age > int64(ttl/time.Second) {
			return nil, false
		}
	}
	e := c.endpoint(b, binary.BigEndian.Uint64(raw[9:17]))
	if e == nil || !e.Usable() {
		return nil, false
	}
	return e, key == 0
}

// endpoint returns b's serving endpoint whose ID hashes to h, or nil.
func (c *Cookies) endpoint(b *balancer.Balancer, h uint64) *balancer.Endpoint {
	idx := c.index.Load()
	if v := b.Version(); idx == nil || idx.bal != b || idx.version != v {
		idx = c.rebuild(b)
	}
	return idx.byHash[h]
}

// rebuild indexes b's serving endpoints by ID hash.
func (c *Cookies) rebuild(b *balancer.Balancer) *cookieIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := b.Version()
	if idx := c.index.Load(); idx != nil && idx.bal == b && idx.version == v {
		return idx
	}
	serving := b.Serving()
	idx := &cookieIndex{bal: b, version: v, byHash: make(map[uint64]*balancer.Endpoint, len(serving))}
	for _, e := range serving {
		// IDs are distinct; two whose XXH64 collide (1 in 2^64 a pair)
		// would share cookies, and the later one would win.
		idx.byHash[xxhash.Sum64String(e.ID)] = e
	}
	c.index.Store(idx)
	return idx
}

// validCookieName reports whether s is an RFC 6265 cookie name: an HTTP
// token of at most 256 bytes.
func validCookieName(s string) bool { return len(s) <= 256 && isToken(s) }
