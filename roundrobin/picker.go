package roundrobin

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/lbkit/lbkit/balancer"
)

// cacheLine is the padding unit: two 64-byte lines, since x86's adjacent-line
// prefetcher pulls lines in pairs.
const cacheLine = 128

// single is the Picker of a one-endpoint set.
type single struct{ e *balancer.Endpoint }

// Pick returns the only endpoint.
func (s single) Pick(balancer.Request) (*balancer.Endpoint, error) { return s.e, nil }

// rrPicker is the Picker of equal weights: position p of the cycle is
// eps[p]. It is safe for concurrent use by multiple goroutines.
type rrPicker struct {
	eps []*balancer.Endpoint // constant
	cur cursor
}

// Pick returns the next endpoint in order. It ignores the Request.
func (p *rrPicker) Pick(balancer.Request) (*balancer.Endpoint, error) {
	// One CompareAndSwap while picks do not collide. This is repeated in
	// wrrPicker.Pick rather than shared: a cursor method holding it is too
	// big to inline, and calling it made a pick 6.7% slower (7.84 to
	// 8.36 ns at n=100, benchstat of 6 runs each).
	c := &p.cur
	if !c.sharded.Load() {
		i := c.pos.Load()
		j := i + 1
		if j == c.n {
			j = 0
		}
		if c.pos.CompareAndSwap(i, j) {
			return p.eps[i], nil
		}
		return p.eps[c.collide()], nil
	}
	return p.eps[c.nextSharded()], nil
}

// wrrPicker is the Picker of unequal weights: position p of the cycle is
// eps[table[p]]. It is safe for concurrent use by multiple goroutines.
type wrrPicker[T uint16 | uint32] struct {
	eps   []*balancer.Endpoint // constant
	table []T                  // constant; the smooth weighted cycle
	cur   cursor
}

// Pick returns the endpoint at the next position of the weighted cycle. It
// ignores the Request.
func (p *wrrPicker[T]) Pick(balancer.Request) (*balancer.Endpoint, error) {
	c := &p.cur // as in rrPicker.Pick
	if !c.sharded.Load() {
		i := c.pos.Load()
		j := i + 1
		if j == c.n {
			j = 0
		}
		if c.pos.CompareAndSwap(i, j) {
			return p.eps[p.table[i]], nil
		}
		return p.eps[p.table[c.collide()]], nil
	}
	return p.eps[p.table[c.nextSharded()]], nil
}

// cursor walks a cycle of n positions. It starts as one bounded counter,
// which gives a single goroutine the exact cycle; the first time two picks
// collide it switches for good to shards, independent counters on cache
// lines of their own, so that concurrent picks stop fighting over one line.
type cursor struct {
	// Constant after init.
	n      uint32  // cycle length, >= 2
	mask   uint32  // len(shards) - 1
	magic  uint64  // ^uint64(0)/n + 1, for Lemire's remainder by n
	shards []shard // each walks the whole cycle from its own phase

	_ [cacheLine]byte

	// Written by picks, with atomics only.
	pos     atomic.Uint32 // next position while not sharded; < n
	sharded atomic.Bool   // set once, on the first failed CompareAndSwap of pos

	_ [cacheLine - 8]byte
}

// shard is one cursor of the sharded mode, alone on its cache lines. Its
// walk is at position ((phase + count) mod 2^32) mod n: where the sum wraps,
// once every four billion picks of the shard, the walk jumps by 2^32 mod n
// positions.
type shard struct {
	count atomic.Uint32
	phase uint32 // constant
	_     [cacheLine - 8]byte
}

// init sets c to walk n positions starting at start, with k shards (a power
// of two) spread evenly around the cycle from start.
func (c *cursor) init(n, start uint32, k int) {
	c.n = n
	c.mask = uint32(k - 1)
	c.magic = ^uint64(0)/uint64(n) + 1
	c.shards = make([]shard, k)
	for s := range c.shards {
		c.shards[s].phase = uint32((uint64(start) + uint64(s)*uint64(n)/uint64(k)) % uint64(n))
	}
	c.pos.Store(start)
}

// collide switches c to sharded mode after a failed CompareAndSwap and
// returns a position from a shard.
func (c *cursor) collide() uint32 {
	c.sharded.Store(true)
	return c.nextSharded()
}

// nextSharded advances a shard chosen with math/rand/v2's per-thread
// generator by one atomic add, which never retries, and reduces its count
// modulo n with two multiplications (Lemire, Kaser and Kurz, "Faster
// Remainder by Direct Computation", 2019).
func (c *cursor) nextSharded() uint32 {
	s := &c.shards[rand.Uint32()&c.mask]
	return c.mod(s.count.Add(1) - 1 + s.phase) // the sum wraps at 2^32
}

// mod returns x mod n.
func (c *cursor) mod(x uint32) uint32 {
	hi, _ := bits.Mul64(c.magic*uint64(x), uint64(c.n))
	return uint32(hi)
}

func newRR(eps []*balancer.Endpoint, src rand.Source) *rrPicker {
	p := &rrPicker{eps: eps}
	n := uint32(len(eps))
	p.cur.init(n, start(src, n), shardCount())
	return p
}

func newWRR[T uint16 | uint32](eps []*balancer.Endpoint, table []T, src rand.Source) *wrrPicker[T] {
	p := &wrrPicker[T]{eps: eps, table: table}
	n := uint32(len(table))
	p.cur.init(n, start(src, n), shardCount())
	return p
}
