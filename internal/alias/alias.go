// Package alias is Vose's alias method for weighted random choice in O(1)
// (M. D. Vose, "A linear algorithm for generating random numbers with a
// given distribution", IEEE Trans. Software Eng. 17(9), 1991), as the random
// and leastconn pickers use it.
//
// A table of n weights has n columns of equal probability 1/n. Column i
// keeps its own index with probability cut_i/2^64 and hands the rest to one
// other index, alias_i. A pick draws one uint64: the high half of r×n picks
// the column (Lemire's multiply-shift) and the low half, a fraction of the
// column, is compared with cut_i. So a pick is one multiplication, one load
// and one comparison, whatever the weights.
//
// The table is built in integer arithmetic: weight w_i becomes w_i×n
// against a column height of W = Σw, both exact in a uint64 for n below
// 2^32 and weights below 2^32, so the construction never drifts and ends
// with every column exactly full. Only the final cut_i = ⌊2^64×part/W⌋ is
// rounded, by less than 2^-64 a column: index i is chosen with probability
// w_i/W to within n×2^-64, even for a weight of 4294967295 next to 1.
package alias

import (
	"errors"
	"math"
	"math/bits"

	"github.com/lbkit/lbkit/balancer"
)

// ErrTooMany is returned by New for 2^32 weights or more.
var ErrTooMany = errors.New("alias: too many weights")

// Table is an alias table. The zero Table is empty; Pick must not be called
// on it. A Table never changes after New, so it is safe for concurrent use
// by multiple goroutines.
type Table struct {
	cols []column
}

// column is one of the table's n equally likely columns.
type column struct {
	// cut is the share of the column, in units of 2^-64, that keeps the
	// column's own index; the rest goes to alias. A full column has
	// cut = 2^64-1 and alias equal to its own index.
	cut   uint64
	alias uint32
}

// New builds the table of weights ws in O(n). A zero weight counts as 1.
// It returns ErrTooMany for 2^32 weights or more.
func New(ws []uint32) (Table, error) {
	n := uint64(len(ws))
	if n > math.MaxUint32 {
		return Table{}, ErrTooMany
	}
	if n == 0 {
		return Table{}, nil
	}
	// scaled[i] = w_i×n is the mass still to place of index i; every column
	// holds exactly total. Both fit a uint64: w_i < 2^32 and n < 2^32.
	scaled := make([]uint64, n)
	var total uint64
	for i, w := range ws {
		w := max(uint64(w), 1)
		scaled[i] = w * n
		total += w
	}
	cols := make([]column, n)
	// work holds the small indices (mass below total) from the front and
	// the large ones from the back.
	work := make([]uint32, n)
	small, large := 0, int(n)
	for i, m := range scaled {
		if m < total {
			work[small] = uint32(i)
			small++
		} else {
			large--
			work[large] = uint32(i)
		}
	}
	for small > 0 && large < int(n) {
		small--
		s := work[small]
		l := work[large]
		// s fills part of its column; l tops it up.
		cut, _ := bits.Div64(scaled[s], 0, total)
		cols[s] = column{cut: cut, alias: l}
		scaled[l] -= total - scaled[s]
		if scaled[l] < total {
			// l moves from the large end to the small end. The slot it
			// leaves is free: small ≤ large always.
			large++
			work[small] = l
			small++
		}
	}
	// In exact arithmetic every index left has a mass of exactly total:
	// its column is its own.
	for _, i := range work[:small] {
		cols[i] = column{cut: math.MaxUint64, alias: i}
	}
	for _, i := range work[large:] {
		cols[i] = column{cut: math.MaxUint64, alias: i}
	}
	return Table{cols: cols}, nil
}

// Len returns the number of weights in the table.
func (t Table) Len() int { return len(t.cols) }

// Pick returns an index in [0, Len()) for the uniformly random r, index i
// with probability w_i/W. The table must not be empty.
func (t Table) Pick(r uint64) int {
	i, frac := bits.Mul64(r, uint64(len(t.cols)))
	c := t.cols[i]
	// Select without a branch: the comparison is a coin flip that a
	// branch predictor would miss about half the time.
	var keep uint64
	if frac < c.cut {
		keep = 1
	}
	a := uint64(c.alias)
	return int(a ^ (a^i)&-keep)
}

// Probabilities returns the exact probability of each index implied by the
// table (before the resolution of r), for tests.
func (t Table) Probabilities() []float64 {
	n := float64(len(t.cols))
	ps := make([]float64, len(t.cols))
	for i, c := range t.cols {
		keep := float64(c.cut) / 0x1p64
		if int(c.alias) == i {
			keep = 1
		}
		ps[i] += keep / n
		ps[c.alias] += (1 - keep) / n
	}
	return ps
}

// Weights returns the endpoints' weights (at least 1 each) and whether
// they are all equal, in which case a picker needs no table.
func Weights(eps []*balancer.Endpoint) ([]uint32, bool) {
	ws := make([]uint32, len(eps))
	equal := true
	for i, e := range eps {
		ws[i] = max(e.Weight, 1)
		equal = equal && ws[i] == ws[0]
	}
	return ws, equal
}
