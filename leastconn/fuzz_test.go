package leastconn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

// FuzzBuild builds arbitrary configs over arbitrary weights: Build either
// returns ErrInvalidConfig for a config out of range or a Picker whose
// picks, with load and latency fed back, never fail, spin or panic.
func FuzzBuild(f *testing.F) {
	f.Add(0, false, false, int64(0), int64(0), []byte{1, 0, 0, 0, 255, 255, 255, 255}, uint64(1))
	f.Add(3, true, true, int64(time.Second), int64(time.Millisecond), []byte{}, uint64(2))
	f.Add(10, false, true, int64(-1), int64(0), []byte{0, 0, 0, 0, 0, 0, 0, 0, 9}, uint64(3))
	f.Add(11, false, false, int64(0), int64(-5), []byte{7, 0, 0, 0}, uint64(4))
	f.Add(2, false, false, int64(0), int64(0), []byte{255, 255, 255, 255, 1, 0, 0, 0, 1, 0, 0, 0}, uint64(5))
	f.Fuzz(func(t *testing.T, choices int, fullScan, peak bool, decay, defLatency int64, data []byte, seed uint64) {
		ws := make([]uint32, min(len(data)/4, 64))
		for i := range ws {
			b := data[4*i:]
			ws[i] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		}
		c := leastconn.Config{
			Choices:        choices,
			FullScan:       fullScan,
			PeakEWMA:       peak,
			Decay:          time.Duration(decay),
			DefaultLatency: time.Duration(defLatency),
			Rand:           balancer.NewSource(seed),
		}
		valid := (choices == 0 || 2 <= choices && choices <= 10) && decay >= 0 && defLatency >= 0
		eps := lbtest.Endpoints(lbtest.Weighted(ws...))
		p, err := c.Build(eps)
		if !valid {
			require.True(t, errors.Is(err, leastconn.ErrInvalidConfig), "%+v: %v", c, err)
			return
		}
		require.NoError(t, err)
		if len(eps) == 0 {
			_, err := p.Pick(balancer.Request{})
			require.ErrorIs(t, err, balancer.ErrNoEndpoints)
			return
		}
		in := map[*balancer.Endpoint]bool{}
		for _, e := range eps {
			in[e] = true
		}
		now := time.Unix(1e9, 0)
		var open []balancer.Result
		for i := range 50 {
			e, err := p.Pick(balancer.Request{Now: now.UnixNano()})
			require.NoError(t, err)
			require.True(t, in[e])
			open = append(open, e.Begin())
			if i%3 == 0 {
				open[0].Done(balancer.DoneInfo{Latency: time.Duration(seed>>uint(i%60)) % time.Second, Now: now.UnixNano()})
				open = open[1:]
			}
			now = now.Add(time.Duration(seed % uint64(time.Second)))
		}
	})
}
