package roundrobin

import (
	"math/bits"
	"slices"
)

// item is one endpoint of a schedule: its index in the endpoint slice and
// its weight, already reduced.
type item struct {
	idx uint32
	w   uint64
}

// cycle returns the smooth weighted cycle of items: a sequence of length
// total (the sum of the weights) in which item i appears exactly w_i times.
//
// Let h be the heaviest item (the first of the heaviest) and R = total -
// w_h the weight of the rest. The cycle is w_h rounds; each round is one
// pick of h followed by the rest's picks assigned to that round, and no
// round holds the same item twice, so no other item ever gets two picks in
// a row, not even across the end of the cycle. Then:
//
//   - R <= w_h: the rest's own cycle (built the same way) is spread over the
//     rounds at most one a round, the j-th in round floor((2j+1)·w_h/(2R)),
//     so h's runs are floor(w_h/R) or ceil(w_h/R) long;
//   - R > w_h: item i takes the w_i rounds floor((a_i + k·w_h)/w_i), k =
//     0..w_i-1, which are distinct because w_i <= w_h; the phases a_i are
//     staggered by the cumulative weight before i so the rounds fill
//     evenly. Within a round picks are ordered by their fractional
//     deadline (40 bits). A least-cost circular transport (balance) then
//     evens out the rounds' sizes, never putting an item twice in a round,
//     and a round still empty takes one pick from the nearest round that
//     holds two or more (repairEmpty), so h never gets two picks in a row.
//
// Either way every item's longest circular run is ceil(w_i/(total-w_i)),
// the least any cycle can achieve. Recursion happens only in the first
// case, where R <= total/2, so the build is O(total·log total) at worst.
func cycle(items []item, total uint64) []uint32 {
	out := make([]uint32, 0, total)
	return appendCycle(out, items, total)
}

func appendCycle(out []uint32, items []item, total uint64) []uint32 {
	h := 0
	equal := true
	for i, it := range items {
		if it.w > items[h].w {
			h = i
		}
		if it.w != items[0].w {
			equal = false
		}
	}
	if equal {
		for range items[0].w {
			for _, it := range items {
				out = append(out, it.idx)
			}
		}
		return out
	}
	wh := items[h].w
	rest := make([]item, 0, len(items)-1)
	rest = append(rest, items[:h]...)
	rest = append(rest, items[h+1:]...)
	r := total - wh
	if r <= wh {
		return spreadSparse(out, items[h].idx, wh, appendCycle(make([]uint32, 0, r), rest, r))
	}
	return spreadDense(out, items[h].idx, wh, rest, r)
}

// spreadSparse emits wh rounds of heavy, placing the j-th of the len(sub)
// <= wh picks of sub after the heavy pick of round floor((2j+1)·wh/(2r)).
func spreadSparse(out []uint32, heavy uint32, wh uint64, sub []uint32) []uint32 {
	r := uint64(len(sub))
	j := uint64(0)
	next := mulDiv(2*j+1, wh, 2*r)
	for b := range wh {
		out = append(out, heavy)
		if j < r && next == b {
			out = append(out, sub[j])
			j++
			next = mulDiv(2*j+1, wh, 2*r)
		}
	}
	return out
}

// idxBits is the width of an endpoint index in a sort key; Build accepts
// at most MaxTableLimit = 2^24 endpoints.
const idxBits = 24

// spreadDense emits wh rounds of heavy when the rest outweighs it (r > wh):
// every item of rest, each at most wh heavy, is spread over distinct rounds.
func spreadDense(out []uint32, heavy uint32, wh uint64, rest []item, r uint64) []uint32 {
	// A pick's round, and its sort key within the round: the fractional
	// part of its deadline in 40 bits, then its endpoint index.
	rounds32 := make([]uint32, 0, r)
	keys := make([]uint64, 0, r)
	counts := make([]uint64, wh+1)
	var cum uint64
	for _, it := range rest {
		// a/w is the item's first deadline, in rounds: its share of the
		// cumulative weight before it, centred, so that phases stagger.
		// Weights are at most MaxTableLimit (2^24), so the products fit.
		a := mulDiv((2*cum+1)*wh, it.w, 2*r)
		for k := range it.w {
			v := a + k*wh
			rd := v / it.w
			if rd >= wh {
				rd -= wh
			}
			frac := mulDiv(v%it.w, 1<<40, it.w)
			rounds32 = append(rounds32, uint32(rd))
			keys = append(keys, frac<<idxBits|uint64(it.idx))
			counts[rd+1]++
		}
		cum += it.w
	}
	// Counting sort by round, then by key within each round.
	for b := uint64(1); b <= wh; b++ {
		counts[b] += counts[b-1]
	}
	sorted := make([]uint64, len(keys))
	fill := slices.Clone(counts[:wh])
	for i, rd := range rounds32 {
		sorted[fill[rd]] = keys[i]
		fill[rd]++
	}
	idx := make([]uint32, len(sorted))
	rounds := make([][]uint32, wh)
	for b := range wh {
		lo, hi := counts[b], counts[b+1]
		slices.Sort(sorted[lo:hi])
		for j := lo; j < hi; j++ {
			idx[j] = uint32(sorted[j] & (1<<idxBits - 1))
		}
		rounds[b] = idx[lo:hi:hi]
	}
	balance(rounds, r)
	repairEmpty(rounds)
	for _, rd := range rounds {
		out = append(out, heavy)
		out = append(out, rd...)
	}
	return out
}

// balance evens out the rounds' sizes towards the Sturmian sizes
// ceil((b+1)·r/wh) - ceil(b·r/wh), so that heavy's picks, one at the start
// of each round, stay evenly spaced in the cycle. The moves are the least
// circular transport: with F the prefix sums of (size - target), F_b - m
// picks cross from round b to b+1 (backwards when negative), m the median
// of F. Each crossing moves the pick nearest the boundary whose endpoint
// the receiving round lacks; when there is none the move is skipped, so
// balance is best effort and never puts an endpoint twice in a round.
func balance(rounds [][]uint32, r uint64) {
	wh := uint64(len(rounds))
	flow := make([]int64, wh)
	var acc int64
	for b := range wh {
		target := ceilDiv((b+1)*r, wh) - ceilDiv(b*r, wh)
		acc += int64(len(rounds[b])) - int64(target)
		flow[b] = acc
	}
	med := slices.Clone(flow)
	slices.Sort(med)
	m := med[len(med)/2]
	b0 := uint64(0)
	for b := range wh {
		flow[b] -= m
		if flow[b] == 0 {
			b0 = b
		}
	}
	// flow[b0] is zero, so no chain of moves crosses boundary b0: forward
	// moves run in cycle order from b0, backward ones against it, so every
	// round has received its inflow before it passes picks on.
	// mark[x] == stamp says endpoint x is in the receiving round.
	var maxIdx uint32
	for _, rd := range rounds {
		for _, x := range rd {
			maxIdx = max(maxIdx, x)
		}
	}
	mark := make([]uint32, maxIdx+1)
	stamp := uint32(0)
	enter := func(rd []uint32) {
		stamp++
		for _, x := range rd {
			mark[x] = stamp
		}
	}
	for s := uint64(1); s < wh; s++ {
		b := (b0 + s) % wh
		next := (b + 1) % wh
		if flow[b] > 0 {
			enter(rounds[next])
		}
		for f := flow[b]; f > 0 && len(rounds[b]) > 1; f-- {
			src := rounds[b]
			j := len(src) - 1
			for j >= 0 && mark[src[j]] == stamp {
				j--
			}
			if j < 0 {
				break
			}
			x := src[j]
			rounds[b] = slices.Delete(src, j, j+1)
			rounds[next] = slices.Insert(rounds[next], 0, x)
			mark[x] = stamp
		}
	}
	for s := wh - 1; s >= 1; s-- {
		b := (b0 + s) % wh
		next := (b + 1) % wh
		if flow[b] < 0 {
			enter(rounds[b])
		}
		for f := flow[b]; f < 0 && len(rounds[next]) > 1; f++ {
			src := rounds[next]
			j := 0
			for j < len(src) && mark[src[j]] == stamp {
				j++
			}
			if j == len(src) {
				break
			}
			x := src[j]
			rounds[next] = slices.Delete(src, j, j+1)
			rounds[b] = append(rounds[b], x)
			mark[x] = stamp
		}
	}
}

// repairEmpty gives every empty round one pick taken from a nearby round
// holding two or more. It sweeps the cycle twice: an empty round takes the
// latest pick of the nearest spare-holding round behind it unless a
// spare-holding round lies nearer ahead, in which case it waits for that
// round to hand it its earliest pick. There are always enough spares, since
// the rest outweighs the rounds.
func repairEmpty(rounds [][]uint32) {
	wh := uint64(len(rounds))
	spare := func(b uint64) bool { return len(rounds[b]) > 1 }
	// ahead[b] is the distance from b to the next round with a spare.
	ahead := make([]uint64, wh)
	empties := 0
	dist := 2 * wh
	for s := 2*wh - 1; s < 2*wh; s-- {
		b := s % wh
		if spare(b) {
			dist = 0
		} else {
			dist++
		}
		ahead[b] = dist
		if s < wh && len(rounds[b]) == 0 {
			empties++
		}
	}
	if empties == 0 {
		return
	}
	var pending, donors []uint64 // sweep positions, nearest last
	for s := uint64(0); s < 2*wh && empties > 0; s++ {
		b := s % wh
		if len(rounds[b]) == 0 {
			if n := len(donors); n > 0 && s-donors[n-1] <= ahead[b] {
				d := donors[n-1] % wh
				last := len(rounds[d]) - 1
				rounds[b] = []uint32{rounds[d][last]}
				rounds[d] = rounds[d][:last]
				empties--
				if !spare(d) {
					donors = donors[:n-1]
				}
			} else if s < wh {
				pending = append(pending, s)
			}
			continue
		}
		for len(pending) > 0 && spare(b) {
			e := pending[len(pending)-1] % wh
			pending = pending[:len(pending)-1]
			if len(rounds[e]) > 0 {
				continue
			}
			rounds[e] = []uint32{rounds[b][0]}
			rounds[b] = rounds[b][1:]
			empties--
		}
		if spare(b) && (len(donors) == 0 || donors[len(donors)-1]%wh != b) {
			donors = append(donors, s)
		}
	}
	// Whatever the sweeps left (none in practice) takes any spare.
	for b := uint64(0); b < wh && empties > 0; b++ {
		for d := uint64(0); d < wh && len(rounds[b]) == 0; d++ {
			if spare(d) {
				last := len(rounds[d]) - 1
				rounds[b] = []uint32{rounds[d][last]}
				rounds[d] = rounds[d][:last]
				empties--
			}
		}
	}
}

func ceilDiv(a, b uint64) uint64 { return (a + b - 1) / b }

// mulDiv returns floor(a·b/c) for a·b/c < 2^64 and c > 0.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, c)
	return q
}
