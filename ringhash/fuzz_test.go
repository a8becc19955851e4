package ringhash_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/ringhash"
)

// FuzzBuild builds rings from arbitrary configs and weight lists and checks
// that Build either fails with one of the package's errors or returns a
// picker whose picks, retries included, come from the set. Ring sizes stay
// small so each input runs fast.
func FuzzBuild(f *testing.F) {
	f.Add(uint16(0), uint16(0), 0.0, uint8(0), uint8(0), []byte{1, 0, 0, 0, 2, 0, 0, 0})
	f.Add(uint16(12), uint16(12), 1.25, uint8(1), uint8(0), []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
	f.Add(uint16(4), uint16(4), 2.0, uint8(2), uint8(3), []byte{255, 255, 255, 255, 1, 0, 0, 0})
	f.Add(uint16(20), uint16(10), math.NaN(), uint8(9), uint8(200), []byte{})
	f.Add(uint16(0), uint16(100), 0.99, uint8(0), uint8(1), []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, minRing, maxRing uint16, factor float64, compat, replicas uint8, raw []byte) {
		cfg := ringhash.Config{
			MinRingSize:   uint64(minRing),
			MaxRingSize:   uint64(maxRing),
			BalanceFactor: factor,
			Compat:        ringhash.Compat(compat % 4),
			Replicas:      uint32(replicas),
		}
		if cfg.MaxRingSize == 0 && cfg.Compat == ringhash.Envoy {
			cfg.MaxRingSize = 4096 // keep Envoy's 8M default out of a fast fuzz
		}
		var eps []*balancer.Endpoint
		for i := 0; i+4 <= len(raw) && len(eps) < 64; i += 4 {
			w := binary.LittleEndian.Uint32(raw[i:])
			eps = append(eps, balancer.NewEndpoint(balancer.Backend{ID: "ep-" + strconv.Itoa(i/4), Weight: w}))
		}
		p, err := cfg.Build(eps)
		if err != nil {
			require.True(t, errors.Is(err, ringhash.ErrInvalidConfig) || errors.Is(err, balancer.ErrInvalidBackend), err)
			require.Nil(t, p)
			return
		}
		in := map[*balancer.Endpoint]bool{}
		for _, e := range eps {
			in[e] = true
		}
		for i, h := range []uint64{0, 1, math.MaxUint64, 0x8000000000000000, uint64(len(raw)) * 0x9e3779b97f4a7c15} {
			e, err := p.Pick(balancer.Request{Hash: h, HasHash: true, Attempt: i * int(replicas)})
			if len(eps) == 0 {
				require.ErrorIs(t, err, balancer.ErrNoEndpoints)
				continue
			}
			require.NoError(t, err)
			require.True(t, in[e])
		}
	})
}
