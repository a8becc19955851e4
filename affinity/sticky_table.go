package affinity

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/lbkit/lbkit/balancer"
)

// The sticky table's layout. A bucket fills three cache lines: the
// sequence count and the keys, then the slots (an endpoint and a last-use
// time each). A lookup reads the first line of each of the key's two
// buckets, and the line of the slot whose key matches.
const (
	stickyWays      = 7  // slots a bucket
	maxStickyShards = 64 // writer locks
	// stickyTries is how many times a lookup reads a bucket that a writer
	// is changing before it takes the shard's lock instead.
	stickyTries = 4
)

// bucket holds stickyWays sessions. A slot is empty when its endpoint is
// nil (its key is then 0, which is also a valid key).
//
// Writers hold the lock of the bucket's shard. A writer that changes a
// slot's key or endpoint, or empties it, makes seq odd first and even
// again after (a seqlock): a reader reads seq, then the slot, then seq
// again, and trusts what it read only when seq was even and did not move.
// last is also written without the lock, by readers refreshing a session,
// with CompareAndSwap so that a refresh never lands on a slot a writer has
// just reused: its CompareAndSwap fails and the reader reads again.
type bucket struct {
	seq   atomic.Uint64
	keys  [stickyWays]atomic.Uint64
	slots [stickyWays]slot
	_     [16]byte
}

// slot is a session's endpoint and the time of its last use (Unix
// nanoseconds), side by side so that a hit reads one more cache line
// after the keys' (slots start on a line and never straddle one).
type slot struct {
	ep   atomic.Pointer[balancer.Endpoint]
	last atomic.Int64
}

// shard serialises the writers of a group of buckets. It fills two cache
// lines (x86's adjacent-line prefetcher pulls lines in pairs), and the
// shards are an array apart from the buckets, so a lock never shares a
// line with another shard's lock or with a session.
type shard struct {
	mu      sync.Mutex
	n       atomic.Int64  // slots in use; written under mu
	evicted atomic.Uint64 // live sessions evicted; written under mu
	_       [128 - 24]byte
}

// probe outcomes.
const (
	probeAbsent = iota // the bucket does not hold the key
	probeHit           // it holds a live session with a usable endpoint
	probeDead          // it holds the key's session, expired or with an unusable endpoint
	probeBusy          // a writer kept changing the bucket
)

// layout allocates the buckets and shards for maxEntries sessions: at
// least two buckets a shard, the two choices of its keys.
func (s *Sticky) layout(maxEntries int) {
	nb := max((maxEntries+stickyWays-1)/stickyWays, 2)
	shards := 1
	for shards < maxStickyShards && shards*4 <= nb {
		shards *= 2
	}
	perShard := (nb + shards - 1) / shards
	s.buckets = make([]bucket, shards*perShard)
	s.shards = make([]shard, shards)
	s.perShard = uint64(perShard)
	s.shardMask = uint64(shards - 1)
}

// stickyMix scatters a key over the table: MurmurHash3's 64-bit
// finalizer, a bijection in which every input bit flips every output bit
// with probability about 1/2. Sequential keys (user IDs) spread as well
// as random ones; wyhash's cheaper multiply-and-fold let sequential keys
// overflow buckets three times as often at 80% of MaxEntries in tables of
// 16 Ki entries.
func stickyMix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	return k ^ k>>33
}

// locate returns key's two buckets, distinct, and its shard. The low bits
// of the mixed key choose the shard, its high half the first bucket of
// the shard, and bits 8 to 39 the second among the shard's other buckets.
func (s *Sticky) locate(key uint64) (a, c *bucket, sh uint64) {
	x := stickyMix(key)
	sh = x & s.shardMask
	n := s.perShard
	i := uint64(uint32(x>>32)) * n >> 32
	j := i + 1 + uint64(uint32(x>>8))*(n-1)>>32
	if j >= n {
		j -= n
	}
	base := sh * n
	return &s.buckets[base+i], &s.buckets[base+j], sh
}

// live reports whether a session last used at l is live at now. A last
// use after now (clocks of different goroutines) is live.
func (s *Sticky) live(l, now int64) bool { return now-l <= s.ttl }

// probe looks for key's session in its two buckets without a lock and,
// on a hit, refreshes it. It reads both buckets' keys at once, and
// finds the matching slot without a branch on its position, so that
// neither a cold table (two cache misses in parallel, not one after the
// other) nor the slot a key happens to sit in costs a misprediction.
func (s *Sticky) probe(key uint64, now int64) (*balancer.Endpoint, int) {
	a, c, _ := s.locate(key)
	for range stickyTries {
		sa, sc := a.seq.Load(), c.seq.Load()
		// a.match(key) | c.match(key)<<8, written out: a call would
		// spill every live register (Go's ABI saves none across calls),
		// and match is too big to inline.
		ka, kc := &a.keys, &c.keys
		m := b2u(ka[0].Load() == key) | b2u(ka[1].Load() == key)<<1 | b2u(ka[2].Load() == key)<<2 |
			b2u(ka[3].Load() == key)<<3 | b2u(ka[4].Load() == key)<<4 | b2u(ka[5].Load() == key)<<5 |
			b2u(ka[6].Load() == key)<<6 |
			b2u(kc[0].Load() == key)<<8 | b2u(kc[1].Load() == key)<<9 | b2u(kc[2].Load() == key)<<10 |
			b2u(kc[3].Load() == key)<<11 | b2u(kc[4].Load() == key)<<12 | b2u(kc[5].Load() == key)<<13 |
			b2u(kc[6].Load() == key)<<14
		// Index arrays rather than a branch choose the bucket of the
		// match: a key is in its second bucket a third of the time.
		bs, seqs := [2]*bucket{a, c}, [2]uint64{sa, sc}
		var e *balancer.Endpoint
		b, seq, i := a, sa, 0
		for ; m != 0; m &= m - 1 {
			t := bits.TrailingZeros32(m)
			b, seq, i = bs[t>>3], seqs[t>>3], t&7
			if e = b.slots[i].ep.Load(); e != nil {
				break
			}
		}
		if e == nil {
			// Absent from both buckets, if neither changed meanwhile.
			if (sa|sc)&1 == 0 && a.seq.Load() == sa && c.seq.Load() == sc {
				return nil, probeAbsent
			}
			continue
		}
		// Present, if its bucket did not change meanwhile: what the
		// other bucket does is no matter, as a key is in one at most.
		l := b.slots[i].last.Load()
		if seq&1 != 0 || b.seq.Load() != seq {
			continue
		}
		if !s.live(l, now) || !e.Usable() {
			return nil, probeDead
		}
		if now-l > s.gran && !b.slots[i].last.CompareAndSwap(l, now) {
			// Another reader refreshed the session, or a writer reused
			// its slot: read again.
			continue
		}
		return e, probeHit
	}
	return nil, probeBusy
}

// match returns the set of b's slots whose key is key, as bits: seven
// compares without a branch (stickyWays is 7; sticky_layout_test.go
// checks it).
func (b *bucket) match(key uint64) uint32 {
	k := &b.keys
	return b2u(k[0].Load() == key) | b2u(k[1].Load() == key)<<1 | b2u(k[2].Load() == key)<<2 |
		b2u(k[3].Load() == key)<<3 | b2u(k[4].Load() == key)<<4 | b2u(k[5].Load() == key)<<5 |
		b2u(k[6].Load() == key)<<6
}

// b2u is 1 for true and 0 for false; the compiler makes it a SETcc.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// find returns the bucket and slot that hold key's session, or nil. The
// caller holds the shard's lock.
func find(a, c *bucket, key uint64) (*bucket, int) {
	bs := [2]*bucket{a, c}
	for m := a.match(key) | c.match(key)<<8; m != 0; m &= m - 1 {
		t := bits.TrailingZeros32(m)
		if b, i := bs[t>>3], t&7; b.slots[i].ep.Load() != nil {
			return b, i
		}
	}
	return nil, 0
}

// pickLocked is Pick's path for a key without a usable session at hand:
// under the shard's lock, it uses the session another goroutine may just
// have made, or picks through b and pins key to the result.
func (s *Sticky) pickLocked(b *balancer.Balancer, key uint64, req balancer.Request, now int64) (balancer.Result, bool, error) {
	a, c, sh := s.locate(key)
	m := &s.shards[sh]
	m.mu.Lock()
	defer m.mu.Unlock()
	bk, i := find(a, c, key)
	if bk != nil {
		if e := bk.slots[i].ep.Load(); e.Usable() && s.refresh(bk, i, now) {
			return e.Begin(), true, nil
		}
	}
	res, err := b.Pick(req)
	if err != nil {
		return res, false, err
	}
	if bk != nil {
		bk.seq.Add(1)
		bk.slots[i].ep.Store(res.Endpoint)
		bk.slots[i].last.Store(now)
		bk.seq.Add(1)
		return res, false, nil
	}
	s.insert(m, a, c, key, res.Endpoint, now)
	return res, false, nil
}

// lookupLocked is Lookup under the shard's lock, for when writers kept
// the key's bucket busy.
func (s *Sticky) lookupLocked(key uint64, now int64) (*balancer.Endpoint, bool) {
	a, c, sh := s.locate(key)
	m := &s.shards[sh]
	m.mu.Lock()
	defer m.mu.Unlock()
	bk, i := find(a, c, key)
	if bk == nil {
		return nil, false
	}
	if e := bk.slots[i].ep.Load(); e.Usable() && s.refresh(bk, i, now) {
		return e, true
	}
	return nil, false
}

// refresh reports whether slot i of b is live at now and, if so,
// refreshes it. The caller holds the shard's lock.
func (s *Sticky) refresh(b *bucket, i int, now int64) bool {
	for {
		l := b.slots[i].last.Load()
		if !s.live(l, now) {
			return false
		}
		if now-l <= s.gran || b.slots[i].last.CompareAndSwap(l, now) {
			return true
		}
	}
}

// insert pins key, which neither of its buckets a and c holds, to e at
// now, in the emptier bucket. The caller holds m, the buckets' shard's
// lock.
func (s *Sticky) insert(m *shard, a, c *bucket, key uint64, e *balancer.Endpoint, now int64) {
	na, nc := s.reap(m, a, now), s.reap(m, c, now)
	b := a
	if nc < na {
		b = c
	}
	if min(na, nc) < stickyWays {
		for i := range stickyWays {
			if b.slots[i].ep.Load() == nil {
				b.put(i, key, e, now)
				m.n.Add(1)
				return
			}
		}
	}
	// Both buckets are full of live sessions: evict one whose endpoint
	// is unusable, or else the least recently used.
	vb, vi, vl := a, -1, int64(0)
	for _, b := range [2]*bucket{a, c} {
		for i := range stickyWays {
			if !b.slots[i].ep.Load().Usable() {
				b.put(i, key, e, now)
				return
			}
			if l := b.slots[i].last.Load(); vi < 0 || l < vl {
				vb, vi, vl = b, i, l
			}
		}
	}
	vb.put(vi, key, e, now)
	m.evicted.Add(1)
}

// put writes a session into slot i of b. The caller holds the shard's
// lock.
func (b *bucket) put(i int, key uint64, e *balancer.Endpoint, now int64) {
	b.seq.Add(1)
	b.keys[i].Store(key)
	b.slots[i].ep.Store(e)
	b.slots[i].last.Store(now)
	b.seq.Add(1)
}

// reap empties b's expired slots and returns how many it still uses. The
// caller holds m, b's shard's lock.
func (s *Sticky) reap(m *shard, b *bucket, now int64) int {
	used, expired := 0, 0
	for i := range stickyWays {
		if b.slots[i].ep.Load() != nil {
			used++
			if !s.live(b.slots[i].last.Load(), now) {
				expired++
			}
		}
	}
	if expired == 0 {
		return used
	}
	b.seq.Add(1)
	for i := range stickyWays {
		if b.slots[i].ep.Load() == nil {
			continue
		}
		// A reader that refreshes the session from now on fails its
		// CompareAndSwap and reads again; one that refreshed it first
		// keeps it.
		if l := b.slots[i].last.Load(); !s.live(l, now) && b.slots[i].last.CompareAndSwap(l, 0) {
			b.keys[i].Store(0)
			b.slots[i].ep.Store(nil)
			used--
			m.n.Add(-1)
		}
	}
	b.seq.Add(1)
	return used
}

// pin pins key to e at now, in its slot or a new one.
func (s *Sticky) pin(key uint64, e *balancer.Endpoint, now int64) {
	a, c, sh := s.locate(key)
	m := &s.shards[sh]
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, i := find(a, c, key); b != nil {
		b.put(i, key, e, now)
		return
	}
	s.insert(m, a, c, key, e, now)
}

// forget empties key's slot, if it has one.
func (s *Sticky) forget(key uint64) {
	a, c, sh := s.locate(key)
	m := &s.shards[sh]
	m.mu.Lock()
	defer m.mu.Unlock()
	b, i := find(a, c, key)
	if b == nil {
		return
	}
	b.seq.Add(1)
	b.keys[i].Store(0)
	b.slots[i].ep.Store(nil)
	b.slots[i].last.Store(0)
	b.seq.Add(1)
	m.n.Add(-1)
}
