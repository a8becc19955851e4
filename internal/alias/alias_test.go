package alias

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkExact asserts that the table's probabilities are ws/total to 1e-12.
func checkExact(t *testing.T, ws []uint32) {
	t.Helper()
	tab, err := New(ws)
	require.NoError(t, err)
	require.Equal(t, len(ws), tab.Len())
	var total float64
	for _, w := range ws {
		total += float64(max(w, 1))
	}
	ps := tab.Probabilities()
	for i, w := range ws {
		assert.InDelta(t, float64(max(w, 1))/total, ps[i], 1e-12, "index %d of %v", i, len(ws))
	}
	for i, c := range tab.cols {
		require.Less(t, int(c.alias), len(ws), "column %d", i)
	}
}

func TestExactProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		n := 1 + r.IntN(300)
		ws := make([]uint32, n)
		for i := range ws {
			switch trial % 4 {
			case 0:
				ws[i] = uint32(1 + r.IntN(10))
			case 1:
				ws[i] = r.Uint32()
			case 2: // a few huge weights among ones
				ws[i] = 1
				if r.IntN(10) == 0 {
					ws[i] = math.MaxUint32 - uint32(r.IntN(3))
				}
			default:
				ws[i] = uint32(r.IntN(3)) // zeros count as 1
			}
		}
		checkExact(t, ws)
	}
}

func TestExtremes(t *testing.T) {
	for _, ws := range [][]uint32{
		{1},
		{math.MaxUint32},
		{math.MaxUint32, 1},
		{1, math.MaxUint32},
		{1, 1, 1, math.MaxUint32, 1, 1},
		{math.MaxUint32, math.MaxUint32, 1},
		{0, 0, 0},
	} {
		checkExact(t, ws)
	}
}

func TestPickRange(t *testing.T) {
	tab, err := New([]uint32{math.MaxUint32, 1, 7})
	require.NoError(t, err)
	for _, r := range []uint64{0, 1, math.MaxUint64, math.MaxUint64 / 3, 1 << 63} {
		i := tab.Pick(r)
		assert.True(t, i >= 0 && i < 3, "Pick(%#x) = %d", r, i)
	}
}

func TestEmpty(t *testing.T) {
	tab, err := New(nil)
	require.NoError(t, err)
	assert.Zero(t, tab.Len())
}

func TestDeterministic(t *testing.T) {
	ws := []uint32{5, 1, 9, 9, 2, 100, 3}
	a, err := New(ws)
	require.NoError(t, err)
	b, err := New(ws)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func FuzzNew(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255})
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		ws := make([]uint32, len(data)/4)
		for i := range ws {
			b := data[4*i:]
			ws[i] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		}
		tab, err := New(ws)
		require.NoError(t, err)
		if len(ws) == 0 {
			return
		}
		checkExact(t, ws)
		for _, r := range []uint64{0, math.MaxUint64, 0x9e3779b97f4a7c15} {
			i := tab.Pick(r)
			require.True(t, i >= 0 && i < len(ws))
		}
	})
}
