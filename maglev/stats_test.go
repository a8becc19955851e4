package maglev

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// envoyKey is key i of Envoy's load-balancer benchmark: XXH64 (seed 0) of
// the 8 little-endian bytes of i.
func envoyKey(i uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], i)
	return xxhash.Sum64(b[:])
}

// relStddev is Envoy's relative_stddev_hits: the population standard
// deviation of hits per host over their mean.
func relStddev(hits []float64) float64 {
	mean := 0.0
	for _, h := range hits {
		mean += h
	}
	mean /= float64(len(hits))
	v := 0.0
	for _, h := range hits {
		v += (h - mean) * (h - mean)
	}
	return math.Sqrt(v/float64(len(hits))) / mean
}

// hitsOf counts Envoy's 100,000 benchmark keys per endpoint index of the
// table slots (slot -> endpoint index), with n endpoints.
func hitsOf(slot func(h uint64) int, n int) []float64 {
	hits := make([]float64, n)
	for i := range uint64(100_000) {
		hits[slot(envoyKey(i))]++
	}
	return hits
}

// TestSkewEnvoyBenchmark reproduces Envoy's BM_MaglevLoadBalancerChooseHost
// at M = 65537. Envoy published 0.0292 at 100 hosts and 0.0416 at 200,
// measured before Envoy sorted hosts by key (issue 20703), with hosts in
// address order: replaying that order must give the same figures to the
// 4 digits published. In today's sorted order the figures differ a little,
// and are pinned.
func TestSkewEnvoyBenchmark(t *testing.T) {
	cases := []struct {
		n                   int
		published, inSorted float64
	}{
		{100, 0.0292, 0.02945},
		{200, 0.0416, 0.04145},
		{500, math.NaN(), 0.06868},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n=%d", c.n), func(t *testing.T) {
			eps := lbtest.Endpoints(lbtest.Backends(c.n))
			p := lbtest.MustBuild(t, Config{}, eps).(*picker)
			sorted := relStddev(hitsOf(p.slot, c.n))
			assert.InDelta(t, c.inSorted, sorted, 0.00005, "sorted order")

			// Envoy's old order: the hosts as given, not sorted.
			hs := sortedHosts(eps, DefaultTableSize)
			pos := map[string]int{}
			for i, e := range hs.eps {
				pos[e.ID] = i
			}
			old := hostSet{eps: eps, hosts: make([]host, c.n), maxW: hs.maxW}
			for i, e := range eps {
				old.hosts[i] = hs.hosts[pos[e.ID]]
			}
			table := buildTable[uint16](&old, DefaultTableSize, fillAuto)
			unsorted := relStddev(hitsOf(func(h uint64) int { return int(table[h%DefaultTableSize]) }, c.n))
			if !math.IsNaN(c.published) {
				assert.InDelta(t, c.published, unsorted, 0.00005, "Envoy's published figure")
			}
			t.Logf("relative stddev at %d hosts: %.5f (sorted, today's Envoy), %.5f (address order, Envoy's published %.4f)",
				c.n, sorted, unsorted, c.published)
		})
	}
}

// moved returns the fraction of Envoy's first 10,000 benchmark keys whose
// endpoint differs between two pickers.
func moved(t *testing.T, a, b balancer.Picker) float64 {
	t.Helper()
	diff := 0
	for i := range uint64(10_000) {
		req := balancer.Request{Hash: envoyKey(i), HasHash: true}
		x, err := a.Pick(req)
		require.NoError(t, err)
		y, err := b.Pick(req)
		require.NoError(t, err)
		if x.ID != y.ID {
			diff++
		}
	}
	return float64(diff) / 10_000
}

// TestDisruption removes the last 1, 2 and 3 of 500 hosts, and adds one,
// at M = 65537, and compares the keys moved with the optimum (k/N removed,
// 1/(N+1) added). Envoy published 0.98% for 1 of 500 removed (optimum
// 0.2%), and lbkit moves exactly that; the other figures are pinned.
// Maglev moves 3 to 6 times the optimum at N = 500 and M = 65537: each
// change reshuffles some slots between hosts that stay.
func TestDisruption(t *testing.T) {
	const n = 500
	base := build(t, Config{}, lbtest.Backends(n))
	cases := []struct {
		name       string
		bs         []balancer.Backend
		optimum    float64
		want, diff float64
	}{
		{"remove 1", lbtest.Backends(n - 1), 1.0 / n, 0.0098, 0.00005}, // Envoy: 0.98%
		{"remove 2", lbtest.Backends(n - 2), 2.0 / n, 0.0161, 0.00005},
		{"remove 3", lbtest.Backends(n - 3), 3.0 / n, 0.0197, 0.00005},
		{"add 1", lbtest.Backends(n + 1), 1.0 / (n + 1), 0.0110, 0.00005},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := moved(t, base, build(t, Config{}, c.bs))
			assert.GreaterOrEqual(t, f, c.optimum*0.8, "fewer keys moved than left with the hosts")
			assert.InDelta(t, c.want, f, c.diff, "moved %.2f%%", 100*f)
			assert.Less(t, f/c.optimum, 6.0, "moved %.1fx the optimum", f/c.optimum)
			t.Logf("%s of %d: %.2f%% of keys moved, optimum %.2f%% (%.1fx)", c.name, n, 100*f, 100*c.optimum, f/c.optimum)
		})
	}
}
