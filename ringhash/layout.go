package ringhash

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/lbkit/lbkit/balancer"
)

// counts returns how many ring entries each endpoint of eps gets, in the
// order of eps. Endpoint i's entries are its replicas 0..counts[i]-1.
func (s settings) counts(eps []*balancer.Endpoint) ([]uint32, error) {
	switch s.compat {
	case Envoy:
		var sum uint64
		for _, e := range eps {
			sum += weight(e)
		}
		if sum > math.MaxUint32 {
			return nil, fmt.Errorf("ringhash: %w: the weights add up to %d, more than Envoy accepts (%d)",
				balancer.ErrInvalidBackend, sum, uint32(math.MaxUint32))
		}
		return s.compatCounts(eps, identity(len(eps))), nil
	case GRPC:
		order := identity(len(eps))
		slices.SortFunc(order, func(a, b uint32) int { return cmp.Compare(eps[a].ID, eps[b].ID) })
		return s.compatCounts(eps, order), nil
	}
	return s.nativeCounts(eps), nil
}

// weight is e's weight with the zero-means-one default applied.
func weight(e *balancer.Endpoint) uint64 { return uint64(max(e.Weight, 1)) }

func identity(n int) []uint32 {
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	return order
}

// compatCounts is Envoy's ring construction, which grpc-go copies:
// normalise the weights to sum 1; scale so that the smallest weight gets a
// whole number of entries, ceil(min_w × MinRingSize) / min_w, but at most
// MaxRingSize; then walk the endpoints in order, raising a running target
// by scale × w_i and giving the endpoint one entry for each whole step the
// running count needs to reach it. Fractional shares carry to later
// endpoints, and an endpoint may get no entry at all when the scale is
// capped and its weight is tiny.
//
// The arithmetic is float64 in the same order as Envoy's C++, with explicit
// conversions so that no platform fuses a multiply and an add (which would
// round differently and move an entry).
func (s settings) compatCounts(eps []*balancer.Endpoint, order []uint32) []uint32 {
	var sum uint64
	for _, e := range eps {
		sum += weight(e)
	}
	norm := make([]float64, len(eps))
	minW := 1.0
	for i, e := range eps {
		norm[i] = float64(weight(e)) / float64(sum)
		minW = math.Min(minW, norm[i])
	}
	scale := math.Min(math.Ceil(float64(minW*float64(s.min)))/minW, float64(s.max))
	counts := make([]uint32, len(eps))
	var current, target float64
	for _, i := range order {
		target += float64(scale * norm[i])
		var n uint32
		for current < target {
			n++
			current++
		}
		counts[i] = n
	}
	return counts
}

// nativeCounts gives an endpoint of weight w round(replicas × w / w_min)
// entries, w_min the smallest weight in the set. That depends on the
// endpoint alone as long as w_min stays (always, when the weights are
// equal), which is what makes the layout stable.
//
// Only when the total leaves [min, max] are the counts scaled, in
// proportion and with 128-bit integer arithmetic: down to floor(e × max /
// total) but at least 1, or up to ceil(e × min / total). Weights as far
// apart as 1 and 4294967295 thus cost at most max + n entries, and keep
// their ratio as far as whole entries allow.
func (s settings) nativeCounts(eps []*balancer.Endpoint) []uint32 {
	minW := uint64(math.MaxUint64)
	for _, e := range eps {
		minW = min(minW, weight(e))
	}
	want := make([]uint64, len(eps))
	for i, e := range eps {
		// replicas <= 2^16 and weight < 2^32: no overflow.
		want[i] = (s.replicas*weight(e) + minW/2) / minW
	}
	total := sum(want)
	for total == math.MaxUint64 {
		// Only sets of more than 2^16 endpoints with extreme weights get
		// here: coarsen every count until the total fits.
		for i := range want {
			want[i] = max(want[i]>>16, 1)
		}
		total = sum(want)
	}
	counts := make([]uint32, len(eps))
	for i, e := range want {
		switch {
		case total > s.max:
			e = max(mulDiv(e, s.max, total, false), 1)
		case total < s.min:
			e = mulDiv(e, s.min, total, true)
		}
		counts[i] = uint32(e)
	}
	return counts
}

// sum adds xs up, saturating at math.MaxUint64.
func sum(xs []uint64) uint64 {
	var t uint64
	for _, x := range xs {
		var carry uint64
		if t, carry = bits.Add64(t, x, 0); carry != 0 {
			return math.MaxUint64
		}
	}
	return t
}

// mulDiv returns a × b / c rounded down, or up when ceil is set. a <= c,
// so the quotient fits.
func mulDiv(a, b, c uint64, ceil bool) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, r := bits.Div64(hi, lo, c)
	if ceil && r != 0 {
		q++
	}
	return q
}
