package affinity

import (
	"testing"
	"unsafe"
)

// The bucket is three whole cache lines with the keys in the first and no
// slot across a line; a shard lock fills two lines of its own; match is
// unrolled for seven ways.
func TestStickyLayout(t *testing.T) {
	var b bucket
	if got := unsafe.Sizeof(b); got != 192 {
		t.Errorf("bucket: %d bytes, want 192", got)
	}
	if off := unsafe.Offsetof(b.slots); off != 64 {
		t.Errorf("slots at %d, want 64", off)
	}
	if sz := unsafe.Sizeof(slot{}); 64%sz != 0 {
		t.Errorf("slot: %d bytes, not a divisor of a line", sz)
	}
	if got := unsafe.Sizeof(shard{}); got != 128 {
		t.Errorf("shard: %d bytes, want 128", got)
	}
	if stickyWays != 7 || len(b.keys) != 7 {
		t.Errorf("match is unrolled for 7 ways, not %d", stickyWays)
	}
	for i := range stickyWays {
		for _, key := range []uint64{0, 1, 1 << 63, ^uint64(0)} {
			b.keys[i].Store(key)
			if m := b.match(key); m&(1<<i) == 0 {
				t.Errorf("match(%#x) = %07b misses slot %d", key, m, i)
			}
			if m := b.match(key ^ 1); m&(1<<i) != 0 {
				t.Errorf("match(%#x) = %07b takes slot %d", key^1, m, i)
			}
			b.keys[i].Store(0)
		}
	}
}
