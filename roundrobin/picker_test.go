package roundrobin

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

func TestFastPaths(t *testing.T) {
	build := func(bs []balancer.Backend) balancer.Picker {
		return lbtest.MustBuild(t, Config{}, lbtest.Endpoints(bs))
	}
	assert.IsType(t, single{}, build(lbtest.Weighted(9)))
	assert.IsType(t, &rrPicker{}, build(lbtest.Backends(5)))
	assert.IsType(t, &rrPicker{}, build(lbtest.Weighted(4, 4, 4)), "equal weights take the fast path")
	assert.IsType(t, &wrrPicker[uint16]{}, build(lbtest.Weighted(4, 4, 5)))

	bs := lbtest.Backends(1<<16 + 1)
	bs[0].Weight = 2
	p := build(bs)
	require.IsType(t, &wrrPicker[uint32]{}, p)
	assert.Len(t, p.(*wrrPicker[uint32]).table, 1<<16+2)
}

func TestMod(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []uint32{2, 3, 7, 1000, 65537, 1<<24 - 1, 1 << 31, math.MaxUint32 - 1, math.MaxUint32} {
		var c cursor
		c.init(n, 0, 4)
		for _, x := range []uint32{0, 1, n - 1, n, n + 1, math.MaxUint32, math.MaxUint32 - 1} {
			require.Equal(t, x%n, c.mod(x), "%d mod %d", x, n)
		}
		for range 10000 {
			x := r.Uint32()
			require.Equal(t, x%n, c.mod(x), "%d mod %d", x, n)
		}
	}
}

func TestShardPhases(t *testing.T) {
	var c cursor
	c.init(100, 90, 4)
	var phases []uint32
	for i := range c.shards {
		phases = append(phases, c.shards[i].phase)
	}
	assert.Equal(t, []uint32{90, 15, 40, 65}, phases, "shards start evenly spread from the random start")
}

// spread picks total times from p, from g goroutines at once, and returns
// the picks per endpoint index.
func spread(t *testing.T, p balancer.Picker, eps []*balancer.Endpoint, g, total int) []int {
	t.Helper()
	idx := map[*balancer.Endpoint]int{}
	for i, e := range eps {
		idx[e] = i
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = make([]int, len(eps))
	)
	for range g {
		wg.Go(func() {
			local := make([]int, len(eps))
			for range total / g {
				e, err := p.Pick(balancer.Request{})
				if err != nil {
					t.Error(err)
					return
				}
				local[idx[e]]++
			}
			mu.Lock()
			for i, c := range local {
				counts[i] += c
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

// cursorOf returns the cursor of a weighted or unweighted Picker.
func cursorOf(p balancer.Picker) *cursor {
	switch p := p.(type) {
	case *rrPicker:
		return &p.cur
	case *wrrPicker[uint16]:
		return &p.cur
	case *wrrPicker[uint32]:
		return &p.cur
	}
	return nil
}

func TestParallelEvenness(t *testing.T) {
	k := shardCount()
	for _, forced := range []bool{false, true} {
		for _, ws := range [][]uint32{{1, 1, 1, 1, 1, 1, 1}, repeat(1000, 1), {5, 1, 1, 3, 2}, {40, 1, 7, 19, 3, 3}} {
			t.Run(fmt.Sprintf("forced=%v/n=%d/w0=%d", forced, len(ws), ws[0]), func(t *testing.T) {
				eps := lbtest.Endpoints(lbtest.Weighted(ws...))
				p := lbtest.MustBuild(t, Config{}, eps)
				if forced {
					cursorOf(p).sharded.Store(true)
				}
				const g, total = 4, 200_000
				counts := spread(t, p, eps, g, total)
				var w float64
				for _, x := range ws {
					w += float64(x)
				}
				equal := ws[0] == ws[len(ws)-1] && len(ws) < 10
				lo, hi := math.MaxInt, 0
				for i, c := range counts {
					lo, hi = min(lo, c), max(hi, c)
					want := total * float64(ws[i]) / w
					bound := float64(k+1) * windowBound
					if equal || len(ws) == 1000 {
						bound = float64(k + 1)
					}
					assert.InDelta(t, want, c, bound, "endpoint %d of %d", i, len(ws))
				}
				if ws[0] == ws[1] {
					assert.LessOrEqual(t, hi-lo, k+1, "equal weights: most and least picked differ by at most K+1")
				}
			})
		}
	}
}

func repeat(n int, w uint32) []uint32 {
	ws := make([]uint32, n)
	for i := range ws {
		ws[i] = w
	}
	return ws
}

func TestCursorWraps(t *testing.T) {
	eps := lbtest.Endpoints(lbtest.Backends(10))
	p := &rrPicker{eps: eps}
	p.cur.init(10, 8, 4)
	for _, want := range []int{8, 9, 0, 1} {
		e, err := p.Pick(balancer.Request{})
		require.NoError(t, err)
		assert.Same(t, eps[want], e, "the bounded cursor wraps at the cycle length")
	}
	assert.False(t, p.cur.sharded.Load(), "one goroutine never collides")
	assert.Equal(t, uint32(2), p.cur.pos.Load())
}

func TestContentionSwitchesToShards(t *testing.T) {
	if runtime.NumCPU() < 2 || runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two CPUs")
	}
	eps := lbtest.Endpoints(lbtest.Backends(10))
	p := lbtest.MustBuild(t, Config{}, eps)
	c := cursorOf(p)
	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !c.sharded.Load() && time.Now().Before(deadline) {
				for range 1000 {
					_, _ = p.Pick(balancer.Request{})
				}
			}
		})
	}
	wg.Wait()
	require.True(t, c.sharded.Load(), "four goroutines picking for 5s never collided")
	for range 100 {
		e, err := p.Pick(balancer.Request{})
		require.NoError(t, err)
		require.Contains(t, eps, e)
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	for _, bs := range [][]balancer.Backend{lbtest.Backends(10), lbtest.Weighted(5, 1, 1), lbtest.Weighted(repeat(70_000, 1)...)} {
		if len(bs) > 1000 {
			bs[0].Weight = 3 // a uint32 table
		}
		p := lbtest.MustBuild(t, Config{}, lbtest.Endpoints(bs))
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = p.Pick(balancer.Request{}) }), "serial, %d endpoints", len(bs))
		cursorOf(p).sharded.Store(true)
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = p.Pick(balancer.Request{}) }), "sharded, %d endpoints", len(bs))
	}
}
