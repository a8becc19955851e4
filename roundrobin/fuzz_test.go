package roundrobin

import (
	"encoding/binary"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// fuzzInput derives a Config and up to 24 weights from data: data[0] sets
// the count, data[1] an optional small MaxTableSize (to force scaling),
// then one byte a weight, or five (a marker and a uint32) for a large one.
func fuzzInput(data []byte) (Config, []uint32) {
	if len(data) < 2 {
		return Config{}, nil
	}
	n := 1 + int(data[0])%24
	var cfg Config
	if data[1]&1 == 1 {
		cfg.MaxTableSize = 2*n + int(data[1])
	}
	data = data[2:]
	ws := make([]uint32, n)
	for i := range ws {
		switch {
		case len(data) >= 5 && data[0]&0x80 != 0:
			ws[i] = binary.LittleEndian.Uint32(data[1:5])
			data = data[5:]
		case len(data) >= 1:
			ws[i] = uint32(data[0]) // 0 means 1
			data = data[1:]
		default:
			ws[i] = 1
		}
	}
	return cfg, ws
}

func FuzzBuild(f *testing.F) {
	f.Add([]byte{2, 0, 5, 1, 1})
	f.Add([]byte{1, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{3, 1, 0x80, 0xff, 0xff, 0xff, 0xff, 0x80, 0xfe, 0xff, 0xff, 0xff, 7})
	f.Add([]byte{23, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ws := fuzzInput(data)
		if ws == nil {
			return
		}
		cfg.Rand = balancer.NewSource(uint64(len(data)))
		eps := lbtest.Endpoints(lbtest.Weighted(ws...))
		p, err := cfg.Build(eps)
		require.NoError(t, err)

		// The expected cycle: the reduced, possibly scaled, weights.
		want, total := reduce(eps, cfg.tableCap(len(eps)))
		if want == nil {
			want = make([]uint64, len(eps))
			for i := range want {
				want[i] = 1
			}
			total = uint64(len(eps))
		}
		require.LessOrEqual(t, total, cfg.tableCap(len(eps)))

		idx := map[*balancer.Endpoint]int{}
		for i, e := range eps {
			idx[e] = i
		}
		// Two cycles from wherever the walk starts: the first gives exact
		// counts, both together show any run across the cycle's end.
		counts := make([]uint64, len(eps))
		runs := make([]int, len(eps))
		last, run := -1, 0
		for k := range 2 * total {
			e, err := p.Pick(balancer.Request{})
			i, ok := idx[e]
			if err != nil || !ok {
				t.Fatalf("pick %d: %v, %v; want a member", k, e, err)
			}
			if k < total {
				counts[i]++
			}
			if i == last {
				run++
			} else {
				last, run = i, 1
			}
			runs[i] = max(runs[i], run)
		}
		require.Equal(t, want, counts, "weights %v", ws)
		for i, w := range want {
			if len(eps) > 1 {
				require.LessOrEqual(t, runs[i], runBound(w, total), "weights %v: endpoint %d", ws, i)
			}
		}

		// Unscaled cycles give exactly the weights' shares; scaled ones come
		// within the documented (1+n·s)/(cap-2n) of each true share s.
		var sum uint64
		for _, w := range ws {
			sum += uint64(max(w, 1))
		}
		n, limit := float64(len(eps)), float64(cfg.tableCap(len(eps)))
		for i, w := range ws {
			s := float64(max(w, 1)) / float64(sum)
			got := float64(want[i]) / float64(total)
			if limit > 2*n {
				require.InDelta(t, s, got, (1+n*s)/(limit-2*n)+1e-12, "weights %v: endpoint %d", ws, i)
			}
		}
		for i, w := range ws {
			a1, a0 := bits.Mul64(want[i], sum)
			b1, b0 := bits.Mul64(uint64(max(w, 1)), total)
			if a1 != b1 || a0 != b0 {
				require.Less(t, cfg.tableCap(len(eps)), sum, "weights %v: endpoint %d's share is off though unscaled", ws, i)
			}
		}
	})
}
