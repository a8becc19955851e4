package affinity

import (
	"errors"
	"fmt"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// Sticky sessions, as kube-proxy's sessionAffinity: ClientIP keeps them
// (the iptables "recent" match, IPVS persistence): the first request of a
// key goes through the Balancer, and the key's later requests go to the
// same endpoint until Timeout passes without one, every request
// refreshing the session. When the endpoint leaves the set, goes down or
// is ejected (Endpoint.Usable turns false), the key's next request goes
// through the Balancer again and the session moves to where it lands. An
// endpoint that turns usable again before the key's next request keeps
// the session.
//
// A key is a uint64: the caller hashes what identifies a client (its IP
// address, a header, a user ID; see balancer.HashString). Two clients
// whose hashes collide share a session, a chance of 2^-64 for each pair.
//
// # The table
//
// The table is a fixed array of buckets, allocated once by NewSticky and
// never grown, so its memory is bounded by MaxEntries: a bucket is three
// cache lines (192 bytes) holding 7 sessions, 27.4 bytes a session, 28
// MiB for a million (TestStickyMemory measures it). The first line holds
// a sequence count and the 7 keys; the other two hold the 7 slots, each
// an endpoint pointer and the time of the session's last use.
//
// A key may sit in either of two buckets of one shard, chosen by bits of
// its MurmurHash3 finalizer, and a new session goes to the emptier of the
// two: two choices (Azar, Broder, Karlin and Upfal, "Balanced
// allocations", STOC 1994) make a table of 7-way buckets fill far more
// evenly than one choice of bucket does.
//
// A lookup takes no lock: it reads the key lines of both buckets, compares
// the 14 keys without branching, then reads the matching slot's line.
// Writers (a new session, a session moved, an eviction, Forget) take the
// lock of the key's shard, one of up to 64 groups of buckets, each lock on
// cache lines of its own; a writer makes the bucket's sequence count odd
// while it changes a slot and even again after (a seqlock), and a reader
// that sees the count odd or moved reads again, so it never pairs one
// key with another key's endpoint. After a few such tries it takes the
// lock instead.
//
// A request refreshes its session's time only when that has moved on by
// more than the precision (Timeout/1024, at most one second), so that the
// requests of a busy key, on several cores, read a cache line that stays
// shared instead of each writing to it. A session lives at least Timeout
// after its last request, and at most Timeout plus the precision.
//
// Expiry is lazy: no goroutine or timer runs, and an expired session's
// slot is empty to lookups and free for the next session that needs its
// bucket. When both of a new key's buckets are full of live sessions, the
// new one evicts the session of the 14 with an unusable endpoint, or else
// the one that has gone longest without a request: an approximate LRU.
// Such evictions can happen before the table holds MaxEntries sessions,
// when both buckets of a key are full while others have room. Filled with
// a million random or sequential keys, a table of MaxEntries 2^20 loses
// none of them at 50% of MaxEntries, 0.07% at 80%, 1.0% at 90% and 4.7%
// at 100% (TestStickyEarlyEviction with -sticky.entries=1048576); with
// one choice of an 8-way bucket it would lose 0.8%, 6.6%, 10% and 14%.
// Give MaxEntries a quarter more than the sessions expected.
//
// For example, with Timeout 10 minutes: a client's first request at
// 12:00 goes through the Balancer to A and starts a session; its requests
// at 12:01 and 12:09 go to A, refreshing the session, which now ends at
// 12:19 (plus at most 0.6 s); a request at 12:25 finds it ended, goes
// through the Balancer to B, and starts a new one. If B leaves the set at
// 12:26, the request at 12:27 goes through the Balancer again, to C.

// ErrStickyConfig is wrapped by the errors NewSticky returns.
var ErrStickyConfig = errors.New("affinity: invalid sticky configuration")

// Sticky table limits and defaults.
const (
	// DefaultStickyTimeout is the session timeout when
	// StickyConfig.Timeout is zero: kube-proxy's default
	// sessionAffinityConfig.clientIP.timeoutSeconds, 10800 s.
	DefaultStickyTimeout = 10800 * time.Second
	// DefaultStickyEntries is the table's capacity when
	// StickyConfig.MaxEntries is zero.
	DefaultStickyEntries = 1 << 16
	// MaxStickyEntries is the largest MaxEntries NewSticky accepts: 64 Mi
	// sessions, a table of 1.7 GiB.
	MaxStickyEntries = 1 << 26
)

// StickyConfig configures a sticky-session table. The zero StickyConfig
// is ready to use: kube-proxy's timeout and DefaultStickyEntries
// sessions.
type StickyConfig struct {
	// Timeout is how long a session lasts without a request. Zero means
	// DefaultStickyTimeout. Kubernetes accepts at most 86400 s (one day);
	// Sticky takes any positive duration. A session is kept at least
	// Timeout after its last request and at most Timeout plus its
	// precision, Timeout/1024 capped at one second: a request refreshes
	// the session's clock only when it has moved on by more than that, so
	// that the requests of a busy key do not all write to memory that
	// other cores read.
	Timeout time.Duration
	// MaxEntries bounds the number of sessions, and so the table's
	// memory, which NewSticky allocates whole: about 27.4 bytes a session.
	// The table holds MaxEntries rounded up to whole buckets (Cap). Zero
	// means DefaultStickyEntries; at most MaxStickyEntries.
	MaxEntries int
}

// Sticky is a table of sticky sessions: it pins each key to the endpoint
// that served the key's first request. See StickyConfig for what it
// keeps and for how long. The zero Sticky is not usable; call NewSticky.
//
// A Sticky remembers endpoints, not Balancers: a key must always be
// picked through the same Balancer. Use one Sticky per Balancer (per
// service), or mix something that tells Balancers apart into the keys
// before sharing one table among them.
//
// A session holds the *balancer.Endpoint that Balancer.Pick returned. An
// Update that keeps the endpoint's ID but changes its Addr, Weight or
// Zone makes a new Endpoint sharing the old one's health, so the session
// goes on with the old value, and its old Addr, until it ends. Backends
// whose address changes should change ID too (the usual ID is the
// address).
//
// A Sticky is safe for concurrent use by multiple goroutines. A request
// of a pinned key takes no lock and allocates nothing; a request that
// starts or moves a session takes the lock of one shard of the table.
type Sticky struct {
	// Constant after NewSticky.
	timeout time.Duration
	ttl     int64 // nanoseconds: a session is live while now-last <= ttl (timeout + precision)
	gran    int64 // nanoseconds: last is stored when now-last > gran (the precision)
	// perShard is the number of buckets of each shard; shard i holds
	// buckets[i*perShard : (i+1)*perShard].
	perShard  uint64
	shardMask uint64

	// buckets are read without locks (by atomic loads) and written under
	// the lock of their shard; see bucket.
	buckets []bucket
	shards  []shard
}

// NewSticky returns an empty sticky-session table configured by cfg, or
// an error wrapping ErrStickyConfig: a negative Timeout, a negative
// MaxEntries or one above MaxStickyEntries.
func NewSticky(cfg StickyConfig) (*Sticky, error) {
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: Timeout is %v, want 0 (the default, %v) or more", ErrStickyConfig, cfg.Timeout, DefaultStickyTimeout)
	case cfg.MaxEntries < 0:
		return nil, fmt.Errorf("%w: MaxEntries is %d, want 0 (the default, %d) or more", ErrStickyConfig, cfg.MaxEntries, DefaultStickyEntries)
	case cfg.MaxEntries > MaxStickyEntries:
		return nil, fmt.Errorf("%w: MaxEntries is %d, want at most %d", ErrStickyConfig, cfg.MaxEntries, MaxStickyEntries)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultStickyTimeout
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultStickyEntries
	}
	gran := min(cfg.Timeout/1024, time.Second)
	ttl := int64(cfg.Timeout) + int64(gran)
	if ttl < 0 { // overflow: a timeout of nearly 292 years
		ttl = 1<<63 - 1
	}
	s := &Sticky{timeout: cfg.Timeout, ttl: ttl, gran: int64(gran)}
	s.layout(cfg.MaxEntries)
	return s, nil
}

// Timeout returns how long a session lasts without a request.
func (s *Sticky) Timeout() time.Duration { return s.timeout }

// Cap returns how many sessions the table holds at most: MaxEntries
// rounded up to whole buckets (7 sessions each, two buckets at least) and
// whole shards, less than MaxEntries + 448.
func (s *Sticky) Cap() int { return len(s.buckets) * stickyWays }

// Pick returns the endpoint for a request of key, counted in flight: the
// endpoint key is pinned to when its session is live and the endpoint
// usable (hit is true), or else b.Pick(req), to which key is then pinned
// (hit is false). The caller ends the request with Result.Done. now is in
// Unix nanoseconds; zero means time.Now(). Every request refreshes its
// session.
//
// Concurrent first requests of a key agree: one goes through the
// Balancer and the others wait for it and join its session. On an error
// from b.Pick, key's session is left as it was.
//
// A retry (req.Attempt > 0) goes through the Balancer without reading or
// changing the session: it should land elsewhere than the attempt that
// failed, and the session stays where it was unless its endpoint turns
// unusable.
//
// Pick allocates nothing.
func (s *Sticky) Pick(b *balancer.Balancer, key uint64, req balancer.Request, now int64) (res balancer.Result, hit bool, err error) {
	if req.Attempt > 0 {
		res, err = b.Pick(req)
		return res, false, err
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	e, st := s.probe(key, now)
	if st == probeHit {
		return e.Begin(), true, nil
	}
	return s.pickLocked(b, key, req, now)
}

// Lookup returns the usable endpoint key is pinned to at now (Unix
// nanoseconds; zero means time.Now()), and refreshes the session, or
// false when key has no live session or its endpoint is unusable. It
// does not count a request in flight (Endpoint.Begin does).
//
// Lookup allocates nothing and takes no lock unless a writer is changing
// one of key's buckets at the same moment.
func (s *Sticky) Lookup(key uint64, now int64) (*balancer.Endpoint, bool) {
	if now == 0 {
		now = time.Now().UnixNano()
	}
	e, st := s.probe(key, now)
	switch st {
	case probeHit:
		return e, true
	case probeBusy:
		return s.lookupLocked(key, now)
	}
	return nil, false
}

// Pin pins key to e at now (Unix nanoseconds; zero means time.Now()),
// replacing its session if it has one: for a proxy whose retry found
// another endpoint after the session's own failed to answer, so that the
// client's next requests go where its last one was served instead of
// failing first at the old endpoint until health checks take it out. e
// must be an endpoint of the Balancer the table serves.
func (s *Sticky) Pin(key uint64, e *balancer.Endpoint, now int64) {
	if e == nil {
		return
	}
	if now == 0 {
		now = time.Now().UnixNano()
	}
	s.pin(key, e, now)
}

// Forget ends key's session, if it has one: key's next request goes
// through the Balancer.
func (s *Sticky) Forget(key uint64) {
	s.forget(key)
}

// Len returns the number of sessions the table holds, at most Cap: the
// live ones, and also, since expiry is lazy, those that have expired but
// whose buckets no new session has needed since, and those whose
// endpoint is unusable until their key's next request moves them. It is
// an upper bound on the live sessions, and reads one counter a shard.
func (s *Sticky) Len() int {
	n := int64(0)
	for i := range s.shards {
		n += s.shards[i].n.Load()
	}
	return int(n)
}

// Evictions returns how many live sessions the table has evicted to make
// room for new ones since NewSticky. Sessions that expired or whose
// endpoint became unusable are not counted. A table that keeps evicting
// is too small for its clients: raise MaxEntries.
func (s *Sticky) Evictions() uint64 {
	n := uint64(0)
	for i := range s.shards {
		n += s.shards[i].evicted.Load()
	}
	return n
}
