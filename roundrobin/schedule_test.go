package roundrobin

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// items makes schedule items of the weights ws.
func items(ws ...uint64) ([]item, uint64) {
	its := make([]item, len(ws))
	var total uint64
	for i, w := range ws {
		its[i] = item{idx: uint32(i), w: w}
		total += w
	}
	return its, total
}

// maxRuns returns, for every index, its longest run of consecutive entries
// in seq read as a circle.
func maxRuns(seq []uint32, n int) []int {
	runs := make([]int, n)
	if len(seq) == 0 {
		return runs
	}
	// Start reading just after a change of index, so no run straddles the
	// start; a seq of one index is one run of its full length.
	off := 0
	for off < len(seq) && seq[off] == seq[(off+len(seq)-1)%len(seq)] {
		off++
	}
	if off == len(seq) {
		runs[seq[0]] = len(seq)
		return runs
	}
	run := 0
	for k := range len(seq) {
		x := seq[(off+k)%len(seq)]
		if k > 0 && x == seq[(off+k-1)%len(seq)] {
			run++
		} else {
			run = 1
		}
		runs[x] = max(runs[x], run)
	}
	return runs
}

// runBound is the least possible longest circular run of an item of weight
// w in a cycle of total entries: ceil(w/(total-w)).
func runBound(w, total uint64) int {
	if w == total {
		return int(total)
	}
	return int((w + total - w - 1) / (total - w))
}

// checkCycle asserts that seq holds each index exactly its weight's number
// of times and that no index runs longer than runBound.
func checkCycle(t *testing.T, seq []uint32, ws []uint64) {
	t.Helper()
	var total uint64
	for _, w := range ws {
		total += w
	}
	require.Len(t, seq, int(total), "weights %v", ws)
	counts := make([]uint64, len(ws))
	for _, x := range seq {
		require.Less(t, int(x), len(ws))
		counts[x]++
	}
	require.Equal(t, ws, counts, "weights %v", ws)
	runs := maxRuns(seq, len(ws))
	for i, w := range ws {
		require.LessOrEqual(t, runs[i], runBound(w, total), "weights %v: index %d runs %d in %v", ws, i, runs[i], seq)
	}
}

func TestCycleFiveOneOne(t *testing.T) {
	its, total := items(5, 1, 1)
	seq := cycle(its, total)
	checkCycle(t, seq, []uint64{5, 1, 1})
	assert.Equal(t, 3, maxRuns(seq, 3)[0], "5:1:1 runs the heavy endpoint at most 3 times, across the wrap too")
	assert.Equal(t, []uint32{0, 0, 1, 0, 0, 2, 0}, seq)
}

func TestCycleSmoothProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		n := 2 + r.IntN(12)
		ws := make([]uint64, n)
		maxW := uint64(1 + r.IntN(60))
		for i := range ws {
			ws[i] = 1 + r.Uint64N(maxW)
		}
		switch trial % 4 {
		case 1: // one heavy endpoint
			ws[r.IntN(n)] *= uint64(2 + r.IntN(20))
		case 2: // two heavy endpoints of equal weight
			ws[0] = 30 + r.Uint64N(30)
			ws[n-1] = ws[0]
		}
		its, total := items(ws...)
		checkCycle(t, cycle(its, total), ws)
	}
}

func TestCycleExhaustiveSmall(t *testing.T) {
	// Every weight vector of 2 to 4 entries in 1..7.
	var rec func(ws []uint64)
	rec = func(ws []uint64) {
		if len(ws) >= 2 {
			its, total := items(ws...)
			checkCycle(t, cycle(its, total), ws)
		}
		if len(ws) == 4 {
			return
		}
		for w := uint64(1); w <= 7; w++ {
			rec(append(ws, w))
		}
	}
	rec(nil)
}

// windowBound is the documented bound on a weighted cycle's window
// discrepancy: any m consecutive picks give an endpoint of weight w within
// windowBound of m·w/W.
const windowBound = 3

func TestCycleWindowEvenness(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	families := map[string]func() []uint64{
		"uniform": func() []uint64 { return randWeights(r, 2+r.IntN(100), 1+r.Uint64N(200)) },
		"one heavy": func() []uint64 {
			ws := randWeights(r, 2+r.IntN(100), 1+r.Uint64N(200))
			ws[r.IntN(len(ws))] *= 2 + r.Uint64N(50)
			return ws
		},
		"geometric": func() []uint64 {
			ws := make([]uint64, 2+r.IntN(14))
			for i := range ws {
				ws[i] = 1 << i
			}
			r.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
			return ws
		},
		"two levels": func() []uint64 {
			ws := make([]uint64, 2+r.IntN(300))
			for i := range ws {
				ws[i] = 1 + 4*uint64(r.IntN(2))
			}
			return ws
		},
		"near equal": func() []uint64 {
			ws := randWeights(r, 2+r.IntN(50), 3)
			for i := range ws {
				ws[i] += 100
			}
			return ws
		},
	}
	for name, gen := range families {
		worst := 0.0
		for range 150 {
			ws := gen()
			its, total := items(ws...)
			seq := cycle(its, total)
			checkCycle(t, seq, ws)
			for i, w := range ws {
				worst = max(worst, windowDiscrepancy(seq, uint32(i), w, total))
			}
		}
		t.Logf("%s: worst window discrepancy %.3f", name, worst)
		assert.Less(t, worst, float64(windowBound), name)
	}
}

func randWeights(r *rand.Rand, n int, maxW uint64) []uint64 {
	ws := make([]uint64, n)
	for i := range ws {
		ws[i] = 1 + r.Uint64N(maxW)
	}
	return ws
}

// windowDiscrepancy returns the largest |count - m·w/total| of index i over
// every circular window of seq, m picks long: with P(t) the count of i in
// seq[:t] less t·w/total, which is periodic because i fills exactly w
// entries, it is max P - min P.
func windowDiscrepancy(seq []uint32, i uint32, w, total uint64) float64 {
	lo, hi := 0.0, 0.0
	c := 0
	for t, x := range seq {
		if x == i {
			c++
		}
		p := float64(c) - float64(t+1)*float64(w)/float64(total)
		lo, hi = min(lo, p), max(hi, p)
	}
	return hi - lo
}
