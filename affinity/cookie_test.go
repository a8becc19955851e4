package affinity_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/roundrobin"
)

var (
	cookieKey = []byte("0123456789abcdef0123456789abcdef")
	otherKey  = []byte("fedcba9876543210fedcba9876543210")
	cookieT0  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
)

func cookieBackends(n int) []balancer.Backend {
	bs := make([]balancer.Backend, n)
	for i := range bs {
		bs[i] = balancer.Backend{ID: fmt.Sprintf("10.0.0.%d:8080", i+1)}
	}
	return bs
}

func newCookies(t testing.TB, cfg affinity.CookieConfig) *affinity.Cookies {
	t.Helper()
	c, err := affinity.NewCookies(cfg)
	require.NoError(t, err)
	return c
}

// request returns a request carrying the cookie, if any.
func request(ck *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if ck != nil {
		r.AddCookie(ck)
	}
	return r
}

func pick(t *testing.T, c *affinity.Cookies, b *balancer.Balancer, ck *http.Cookie, now int64) (*balancer.Endpoint, bool) {
	t.Helper()
	res, issue, err := c.Pick(b, request(ck), balancer.Request{}, now)
	require.NoError(t, err)
	res.Done(balancer.DoneInfo{})
	return res.Endpoint, issue
}

func TestCookieSticks(t *testing.T) {
	b := balancer.New(roundrobin.Config{})
	require.NoError(t, b.Update(cookieBackends(5)))
	c := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	e, issue := pick(t, c, b, nil, cookieT0)
	require.True(t, issue, "no cookie: issue one")
	ck := c.Cookie(e, cookieT0)
	assert.Equal(t, affinity.DefaultCookieName, ck.Name)
	assert.Len(t, ck.Value, 44)
	assert.NotContains(t, ck.Value, "10.0.0", "opaque")
	assert.True(t, ck.HttpOnly)
	for range 50 {
		got, issue := pick(t, c, b, ck, cookieT0+int64(time.Hour))
		require.Equal(t, e.ID, got.ID)
		require.False(t, issue)
	}
	// Its endpoint leaves: the next request moves once, and a new cookie
	// sticks to the new endpoint.
	var rest []balancer.Backend
	for _, bk := range cookieBackends(5) {
		if bk.ID != e.ID {
			rest = append(rest, bk)
		}
	}
	require.NoError(t, b.Update(rest))
	moved, issue := pick(t, c, b, ck, cookieT0)
	assert.True(t, issue)
	assert.NotEqual(t, e.ID, moved.ID)
	ck = c.Cookie(moved, cookieT0)
	for range 10 {
		got, issue := pick(t, c, b, ck, cookieT0)
		require.Equal(t, moved.ID, got.ID)
		require.False(t, issue)
	}
	// It goes down: the cookie is not honoured while it is.
	for _, x := range b.Endpoints() {
		if x.ID == moved.ID {
			x.SetDown(true, cookieT0)
		}
	}
	got, issue := pick(t, c, b, ck, cookieT0)
	assert.True(t, issue)
	assert.NotEqual(t, moved.ID, got.ID)
}

// A cookie a client made, or changed, never reaches the endpoint it names:
// tampering with any byte, a key the proxy does not hold, a garbage value.
func TestCookieForgeries(t *testing.T) {
	b := balancer.New(roundrobin.Config{})
	require.NoError(t, b.Update(cookieBackends(3)))
	c := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	target := b.Endpoints()[2]
	good := c.Cookie(target, cookieT0)
	raw, err := base64.RawURLEncoding.DecodeString(good.Value)
	require.NoError(t, err)
	for i := range raw {
		for _, bit := range []byte{1, 0x80} {
			bad := append([]byte(nil), raw...)
			bad[i] ^= bit
			ck := &http.Cookie{Name: good.Name, Value: base64.RawURLEncoding.EncodeToString(bad)}
			_, issue, err := c.Pick(b, request(ck), balancer.Request{}, cookieT0)
			require.NoError(t, err)
			require.True(t, issue, "byte %d bit %x: not honoured", i, bit)
		}
	}
	forger := newCookies(t, affinity.CookieConfig{Keys: [][]byte{otherKey}})
	forged := forger.Cookie(target, cookieT0)
	hits := 0
	for range 300 {
		e, issue := pick(t, c, b, forged, cookieT0)
		require.True(t, issue)
		if e.ID == target.ID {
			hits++
		}
	}
	assert.InDelta(t, 100, hits, 1, "the forged cookie's endpoint gets its round-robin share, no more")
	for _, v := range []string{"", "x", strings.Repeat("A", 44), strings.Repeat("é", 22), good.Value + "=", good.Value[:43] + "*", strings.Repeat("z", 64<<10)} {
		_, issue := pick(t, c, b, &http.Cookie{Name: good.Name, Value: strings.ToValidUTF8(v, "")}, cookieT0)
		assert.True(t, issue, "%.20q", v)
	}
}

func TestCookieRotationAndExpiry(t *testing.T) {
	b := balancer.New(roundrobin.Config{})
	require.NoError(t, b.Update(cookieBackends(4)))
	old := newCookies(t, affinity.CookieConfig{Keys: [][]byte{otherKey}, TTL: time.Hour})
	e := b.Endpoints()[1]
	ck := old.Cookie(e, cookieT0)
	assert.Equal(t, 3600, ck.MaxAge)

	rotated := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey, otherKey}, TTL: time.Hour})
	got, issue := pick(t, rotated, b, ck, cookieT0+int64(time.Minute))
	assert.Equal(t, e.ID, got.ID, "the old key still verifies")
	assert.True(t, issue, "and the cookie is issued anew under the new key")
	fresh := rotated.Cookie(got, cookieT0)
	got, issue = pick(t, rotated, b, fresh, cookieT0)
	assert.Equal(t, e.ID, got.ID)
	assert.False(t, issue)

	retired := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey}, TTL: time.Hour})
	_, issue = pick(t, retired, b, ck, cookieT0)
	assert.True(t, issue, "a retired key verifies nothing")

	_, issue = pick(t, rotated, b, fresh, cookieT0+int64(2*time.Hour))
	assert.True(t, issue, "expired")
	_, issue = pick(t, rotated, b, fresh, cookieT0-int64(time.Hour))
	assert.True(t, issue, "issued in the future")
}

// A request with a thousand cookies finds its own.
func TestCookieAmongMany(t *testing.T) {
	b := balancer.New(roundrobin.Config{})
	require.NoError(t, b.Update(cookieBackends(4)))
	c := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	e := b.Endpoints()[3]
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := range 1000 {
		r.AddCookie(&http.Cookie{Name: fmt.Sprintf("c%d", i), Value: "v"})
	}
	r.AddCookie(c.Cookie(e, cookieT0))
	res, issue, err := c.Pick(b, r, balancer.Request{}, cookieT0)
	require.NoError(t, err)
	res.Done(balancer.DoneInfo{})
	assert.Equal(t, e.ID, res.Endpoint.ID)
	assert.False(t, issue)
}

func TestCookieConfigErrors(t *testing.T) {
	for _, cfg := range []affinity.CookieConfig{
		{},
		{Keys: [][]byte{[]byte("short")}},
		{Keys: [][]byte{cookieKey, nil}},
		{Keys: [][]byte{cookieKey}, TTL: -time.Second},
		{Keys: [][]byte{cookieKey}, Name: "bad name"},
		{Keys: [][]byte{cookieKey}, Name: "semi;colon"},
	} {
		_, err := affinity.NewCookies(cfg)
		assert.ErrorIs(t, err, affinity.ErrCookieConfig, "%+v", cfg)
	}
}

// Cookie picks race Updates and health changes; every pick is of the
// current set or a retry through the Balancer, and ends (run with -race).
func TestCookieRace(t *testing.T) {
	b := balancer.New(roundrobin.Config{})
	require.NoError(t, b.Update(cookieBackends(6)))
	c := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	cookies := make([]*http.Cookie, 6)
	for i, e := range b.Endpoints() {
		cookies[i] = c.Cookie(e, 0)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, _, err := c.Pick(b, request(cookies[(i+g)%6]), balancer.Request{}, 0)
				if err == nil {
					res.Done(balancer.DoneInfo{})
				}
			}
		})
	}
	for i := range 200 {
		require.NoError(t, b.Update(cookieBackends(3+i%4)))
	}
	close(stop)
	wg.Wait()
	for _, e := range b.Endpoints() {
		assert.Zero(t, e.InFlight())
	}
}

// FuzzCookieValue: any cookie value is honoured only when it is one the
// proxy issued, and never panics.
func FuzzCookieValue(f *testing.F) {
	b := balancer.New(roundrobin.Config{})
	if err := b.Update(cookieBackends(3)); err != nil {
		f.Fatal(err)
	}
	c, err := affinity.NewCookies(affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	if err != nil {
		f.Fatal(err)
	}
	valid := map[string]bool{}
	for _, e := range b.Endpoints() {
		v := c.Cookie(e, cookieT0).Value
		valid[v] = true
		f.Add(v)
	}
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", affinity.DefaultCookieName+"="+v)
		res, issue, err := c.Pick(b, r, balancer.Request{}, cookieT0)
		if err != nil {
			t.Fatal(err)
		}
		res.Done(balancer.DoneInfo{})
		if !issue && !valid[v] {
			t.Fatalf("honoured a cookie the proxy did not issue: %q", v)
		}
	})
}

// FuzzNewCookies: any configuration is either refused with
// ErrCookieConfig or makes cookies that round-trip, never a panic.
func FuzzNewCookies(f *testing.F) {
	b := balancer.New(roundrobin.Config{})
	if err := b.Update(cookieBackends(2)); err != nil {
		f.Fatal(err)
	}
	f.Add("", []byte("0123456789abcdef"), []byte{}, int64(0), "")
	f.Add("lb", []byte("short"), []byte("0123456789abcdefXYZ"), int64(time.Hour), "/app")
	f.Add("bad name", []byte("0123456789abcdef"), []byte{}, int64(-1), "/")
	f.Fuzz(func(t *testing.T, name string, k1, k2 []byte, ttl int64, path string) {
		keys := [][]byte{k1}
		if len(k2) > 0 {
			keys = append(keys, k2)
		}
		c, err := affinity.NewCookies(affinity.CookieConfig{Name: name, Keys: keys, TTL: time.Duration(ttl), Path: path})
		if err != nil {
			if !errors.Is(err, affinity.ErrCookieConfig) {
				t.Fatalf("error %v does not wrap ErrCookieConfig", err)
			}
			return
		}
		e := b.Endpoints()[1]
		ck := c.Cookie(e, cookieT0)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(ck)
		res, issue, err := c.Pick(b, r, balancer.Request{}, cookieT0)
		if err != nil {
			t.Fatal(err)
		}
		res.Done(balancer.DoneInfo{})
		if issue || res.Endpoint.ID != e.ID {
			t.Fatalf("a fresh cookie for %s was not honoured (issue %v, went to %s)", e.ID, issue, res.Endpoint.ID)
		}
	})
}

// Honouring a cookie allocates nothing: the cookie is found without
// parsing every one, and the MAC is computed in pooled buffers.
func TestCookiePickAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop the pooled MACs")
	}
	bal := balancer.New(roundrobin.Config{})
	require.NoError(t, bal.Update(cookieBackends(10)))
	c := newCookies(t, affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	r := request(c.Cookie(bal.Endpoints()[3], 0))
	allocs := testing.AllocsPerRun(200, func() {
		res, issue, err := c.Pick(bal, r, balancer.Request{}, cookieT0)
		if err != nil || issue {
			t.Fatal(err, issue)
		}
		res.Done(balancer.DoneInfo{})
	})
	assert.Zero(t, allocs)
}

func BenchmarkCookiePick(b *testing.B) {
	bal := balancer.New(roundrobin.Config{})
	if err := bal.Update(cookieBackends(100)); err != nil {
		b.Fatal(err)
	}
	c := newCookies(b, affinity.CookieConfig{Keys: [][]byte{cookieKey}})
	r := request(c.Cookie(bal.Endpoints()[7], 0))
	b.ReportAllocs()
	for b.Loop() {
		res, _, _ := c.Pick(bal, r, balancer.Request{}, cookieT0)
		res.Done(balancer.DoneInfo{})
	}
}
