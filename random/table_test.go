package random

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/internal/lbtest"
)

// TestWeightedTableExact checks, over random weight sets, that the weighted
// picker's alias table gives every endpoint exactly its share w_i/Σw (to
// 1e-12), and that equal weights take the uniform fast path.
func TestWeightedTableExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := range 200 {
		n := 2 + r.IntN(200)
		ws := make([]uint32, n)
		for i := range ws {
			switch trial % 3 {
			case 0:
				ws[i] = uint32(1 + r.IntN(100))
			case 1:
				ws[i] = r.Uint32()
			default:
				ws[i] = []uint32{1, math.MaxUint32}[r.IntN(2)]
			}
		}
		ws[0], ws[1] = 1, 2 // never all equal
		p, err := Config{}.Build(lbtest.Endpoints(lbtest.Weighted(ws...)))
		require.NoError(t, err)
		w, ok := p.(*weighted)
		require.True(t, ok, "trial %d: %T", trial, p)
		var total float64
		for _, x := range ws {
			total += float64(max(x, 1))
		}
		for i, prob := range w.table.Probabilities() {
			assert.InDelta(t, float64(max(ws[i], 1))/total, prob, 1e-12, "trial %d endpoint %d", trial, i)
		}
	}
	p, err := Config{}.Build(lbtest.Endpoints(lbtest.Weighted(7, 7, 7)))
	require.NoError(t, err)
	assert.IsType(t, &uniform{}, p)
}
