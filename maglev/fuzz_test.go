package maglev

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
)

// FuzzBuild builds tables from arbitrary ID lists (comma-separated),
// weights (4 bytes each, cycled), table sizes (kept below 600 so each run
// is fast; 0 means the default) and balance factors. Build must either
// fail with one of the documented errors or produce the table of Envoy's
// loop, with every endpoint in it, whatever the input order.
func FuzzBuild(f *testing.F) {
	f.Add("a,b,c", []byte{1, 0, 0, 0, 2, 0, 0, 0}, uint16(13), 0.0)
	f.Add("x", []byte{}, uint16(2), 1.25)
	f.Add("a,a", []byte{}, uint16(13), 0.0)
	f.Add("a,,b", []byte{}, uint16(13), 0.0)
	f.Add("", []byte{}, uint16(13), 0.0)
	f.Add("p,q,r,s", []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}, uint16(5), 2.0)
	f.Add("p,q,r,s", []byte{}, uint16(4), 0.0)
	f.Add("p,q,r,s", []byte{}, uint16(3), 0.0)
	f.Add("p", []byte{}, uint16(0), 0.9)
	f.Fuzz(func(t *testing.T, idList string, weights []byte, m uint16, factor float64) {
		var bs []balancer.Backend
		if idList != "" {
			for i, id := range strings.Split(idList, ",") {
				b := balancer.Backend{ID: id}
				if len(weights) >= 4 {
					j := (4 * i) % (len(weights) - len(weights)%4)
					b.Weight = binary.LittleEndian.Uint32(weights[j:])
				}
				bs = append(bs, b)
			}
		}
		eps := make([]*balancer.Endpoint, len(bs))
		for i, b := range bs {
			eps[i] = balancer.NewEndpoint(b)
		}
		c := Config{TableSize: uint64(m % 600), BalanceFactor: factor}
		p, err := c.Build(eps)
		if err != nil {
			require.True(t, errors.Is(err, ErrTableSize) || errors.Is(err, ErrBalanceFactor) ||
				errors.Is(err, balancer.ErrInvalidBackend), "unexpected error %v", err)
			require.True(t, strings.HasPrefix(err.Error(), "maglev: "), err.Error())
			return
		}
		if len(eps) == 0 {
			_, err := p.Pick(balancer.Request{Hash: 1, HasHash: true})
			require.ErrorIs(t, err, balancer.ErrNoEndpoints)
			return
		}
		size := c.TableSize
		if size == 0 {
			size = DefaultTableSize
		}
		table := ids(t, p)
		require.Equal(t, envoyTable(eps, size), table)
		require.Len(t, shares(table), len(eps), "every endpoint owns a slot")

		rev := slices.Clone(eps)
		slices.Reverse(rev)
		p2, err := c.Build(rev)
		require.NoError(t, err)
		require.Equal(t, table, ids(t, p2))

		for k := range 8 {
			e, err := p.Pick(balancer.Request{Hash: uint64(k) * 0x9e3779b97f4a7c15, HasHash: true, Attempt: k % 3})
			require.NoError(t, err)
			require.Contains(t, eps, e)
		}
	})
}
