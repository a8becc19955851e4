package affinity_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
)

// FuzzNewSticky: NewSticky rejects exactly the configurations its doc
// says, with ErrStickyConfig, never panics, and the table it returns
// works at any time and for any key.
func FuzzNewSticky(f *testing.F) {
	f.Add(int64(0), 0, uint64(0), int64(0))
	f.Add(int64(-1), 10, uint64(1), int64(1))
	f.Add(int64(time.Second), -1, uint64(math.MaxUint64), int64(-1))
	f.Add(int64(math.MaxInt64), 1, uint64(42), int64(math.MaxInt64))
	f.Add(int64(1), affinity.MaxStickyEntries+1, uint64(42), int64(math.MinInt64))
	f.Add(int64(time.Hour), 1000, uint64(7), stickyT0)
	b := rrBalancer(f, 3)
	f.Fuzz(func(t *testing.T, timeout int64, maxEntries int, key uint64, now int64) {
		cfg := affinity.StickyConfig{Timeout: time.Duration(timeout), MaxEntries: maxEntries}
		valid := timeout >= 0 && maxEntries >= 0 && maxEntries <= affinity.MaxStickyEntries
		if valid && maxEntries > 1<<16 {
			t.Skip("valid, and too big to allocate at fuzzing speed")
		}
		s, err := affinity.NewSticky(cfg)
		if !valid {
			if s != nil || !errors.Is(err, affinity.ErrStickyConfig) {
				t.Fatalf("%+v: got %v, %v; want ErrStickyConfig", cfg, s, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if s.Cap() < max(maxEntries, 1) {
			t.Fatalf("%+v: Cap %d", cfg, s.Cap())
		}
		res, _, err := s.Pick(b, key, balancer.Request{}, now)
		if err != nil {
			t.Fatal(err)
		}
		res.Done(balancer.DoneInfo{})
		again, hit, err := s.Pick(b, key, balancer.Request{}, now)
		if err != nil {
			t.Fatal(err)
		}
		again.Done(balancer.DoneInfo{})
		if now != 0 && (!hit || again.Endpoint != res.Endpoint) {
			t.Fatalf("%+v key %d now %d: did not stick", cfg, key, now)
		}
		if e, ok := s.Lookup(key, now); now != 0 && (!ok || e != res.Endpoint) {
			t.Fatalf("%+v key %d now %d: Lookup %v, %v", cfg, key, now, e, ok)
		}
		if s.Len() != 1 {
			t.Fatalf("Len %d", s.Len())
		}
		s.Forget(key)
		if _, ok := s.Lookup(key, now); ok || s.Len() != 0 {
			t.Fatalf("Forget left the session")
		}
	})
}
