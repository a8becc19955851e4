package health_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/maglev"
	"github.com/lbkit/lbkit/ringhash"
)

// owners maps every key to the endpoint ID a plain Balancer over bs picks.
func owners(t *testing.T, b balancer.Builder, bs []balancer.Backend, keys []uint64) []string {
	t.Helper()
	bal := balancer.New(b)
	require.NoError(t, bal.Update(bs))
	out := make([]string, len(keys))
	for i, k := range keys {
		e, err := bal.Picker().Pick(balancer.Request{Hash: k, HasHash: true})
		require.NoError(t, err)
		out[i] = e.ID
	}
	return out
}

// Slow start for hash pickers: while pod-20 ramps up it takes a growing
// share of its own keys in the final table, and never one that is not;
// its other keys stay where the table without it sends them; every other
// key is where the final table puts it; at the end of the window the
// table is exactly the plain one.
func TestHashSlowStart(t *testing.T) {
	for name, b := range map[string]balancer.Builder{
		"maglev":    maglev.Config{},
		"ring-hash": ringhash.Config{},
	} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			keys := make([]uint64, 40000)
			for i := range keys {
				keys[i] = rng.Uint64()
			}
			before := owners(t, b, backends(20), keys)
			after := owners(t, b, backends(21), keys)
			own := 0
			for _, id := range after {
				if id == "pod-20" {
					own++
				}
			}
			bal := balancer.New(b)
			require.NoError(t, bal.UpdateAt(1, backends(20)))
			m, err := health.New(bal, health.Config{SlowStart: &health.SlowStart{Window: 20 * time.Second}}, 1)
			require.NoError(t, err)
			start := 100 * sec
			require.NoError(t, bal.UpdateAt(start, backends(21)))
			took := map[int]bool{}
			for _, at := range []int64{0, 5, 10, 15} {
				m.Advance(start + at*sec)
				got := 0
				for i, k := range keys {
					e, err := bal.Pick(balancer.Request{Hash: k, HasHash: true})
					require.NoError(t, err)
					e.Done(balancer.DoneInfo{})
					switch id := e.Endpoint.ID; {
					case id == "pod-20":
						require.Equal(t, "pod-20", after[i], "only its own keys")
						got++
						took[i] = true
					case after[i] == "pod-20":
						require.False(t, took[i], "a key that moved to it stays")
						require.Equal(t, before[i], id, "its other keys stay where they would be without it")
					default:
						require.Equal(t, after[i], id, "every other key is where the final table puts it")
					}
				}
				f := max(0.1, float64(at)/20)
				// Binomial: four standard deviations.
				assert.InDelta(t, f*float64(own), got, 4*math.Sqrt(float64(own)*f*(1-f))+1, "at %ds", at)
			}
			m.Advance(start + 20*sec)
			for i, k := range keys {
				e, err := bal.Picker().Pick(balancer.Request{Hash: k, HasHash: true})
				require.NoError(t, err)
				require.Equal(t, after[i], e.ID, "after the window, the plain table")
			}
		})
	}
}
