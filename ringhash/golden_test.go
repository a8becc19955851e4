package ringhash

import (
	"encoding/binary"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
)

// checksum digests a whole ring: every entry's hash and its owner's ID.
func checksum(p *picker) uint64 {
	d := xxhash.New()
	var b [8]byte
	for i, h := range p.ring.hashes {
		binary.LittleEndian.PutUint64(b[:], h)
		_, _ = d.Write(b[:])
		_, _ = d.WriteString(p.eps[p.ring.owners[i]].ID)
	}
	return d.Sum64()
}

type goldenEntry struct {
	hash uint64
	id   string
}

type golden struct {
	name  string
	cfg   Config
	set   []balancer.Backend
	size  int
	first []goldenEntry
	sum   uint64
}

func (g golden) check(t *testing.T) {
	p := mustPicker(t, g.cfg, lbtest.Endpoints(g.set))
	assert.Equal(t, g.size, len(p.ring.hashes), "ring size")
	for i, w := range g.first {
		assert.Equal(t, w.hash, p.ring.hashes[i], "entry %d hash", i)
		assert.Equal(t, w.id, p.eps[p.ring.owners[i]].ID, "entry %d owner", i)
	}
	assert.Equal(t, g.sum, checksum(p), "checksum")
}

var goldens = []golden{
	{name: "native/3", cfg: Config{}, set: lbtest.Backends(3),
		size: 768, sum: 0x4e513975eea80806, first: []goldenEntry{{4773449861827930, "10.0.0.1:6379"}, {8542305047360089, "10.0.0.2:6379"}, {76883976578202252, "10.0.0.1:6379"}}},
	{name: "native/1-2-3", cfg: Config{}, set: lbtest.Weighted(1, 2, 3),
		size: 1536, sum: 0x35992883ccc301b4, first: []goldenEntry{{4773449861827930, "10.0.0.1:6379"}, {8542305047360089, "10.0.0.2:6379"}, {21819831031057301, "10.0.0.1:6379"}}},
	{name: "native/100", cfg: Config{}, set: lbtest.Backends(100),
		size: 25600, sum: 0xec3cbec10eb25566, first: []goldenEntry{{1139507334058158, "10.0.0.18:6379"}, {1974578132549540, "10.0.0.49:6379"}, {3484932797158241, "10.0.0.81:6379"}}},
	{name: "native/replicas=16", cfg: Config{Replicas: 16}, set: lbtest.Weighted(5, 1, 3),
		size: 144, sum: 0x19801c79d913435e, first: []goldenEntry{{8542305047360089, "10.0.0.2:6379"}, {92549515274066931, "10.0.0.2:6379"}, {257101246460799652, "10.0.0.2:6379"}}},
	{name: "envoy/3", cfg: Config{Compat: Envoy}, set: lbtest.Backends(3),
		size: 1026, sum: 0x83edd0f929f47c91, first: []goldenEntry{{4773449861827930, "10.0.0.1:6379"}, {8542305047360089, "10.0.0.2:6379"}, {21819831031057301, "10.0.0.1:6379"}}},
	{name: "envoy/1-2-3", cfg: Config{Compat: Envoy}, set: lbtest.Weighted(1, 2, 3),
		size: 1026, sum: 0x68efb9a9f8c728c6, first: []goldenEntry{{4773449861827930, "10.0.0.1:6379"}, {8542305047360089, "10.0.0.2:6379"}, {21819831031057301, "10.0.0.1:6379"}}},
	{name: "envoy/100/min=65536", cfg: Config{Compat: Envoy, MinRingSize: 65536}, set: lbtest.Backends(100),
		size: 65600, sum: 0xe43865665e66c8ca, first: []goldenEntry{{387126740201184, "10.0.0.9:6379"}, {401452485610386, "10.0.0.11:6379"}, {1139507334058158, "10.0.0.18:6379"}}},
	{name: "grpc/3", cfg: Config{Compat: GRPC}, set: lbtest.Backends(3),
		size: 1026, sum: 0x83edd0f929f47c91, first: []goldenEntry{{4773449861827930, "10.0.0.1:6379"}, {8542305047360089, "10.0.0.2:6379"}, {21819831031057301, "10.0.0.1:6379"}}},
	{name: "grpc/1-2-3", cfg: Config{Compat: GRPC}, set: lbtest.Weighted(1, 2, 3),
		size: 1026, sum: 0x68efb9a9f8c728c6, first: []goldenEntry{{4773449861827930, "10.0.0.1:6379"}, {8542305047360089, "10.0.0.2:6379"}, {21819831031057301, "10.0.0.1:6379"}}},
	{name: "grpc/100", cfg: Config{Compat: GRPC}, set: lbtest.Backends(100),
		size: 1100, sum: 0x6c0f2fb6177b4224, first: []goldenEntry{{32841728226486343, "10.0.0.99:6379"}, {33229972686288406, "10.0.0.79:6379"}, {42250082736486463, "10.0.0.63:6379"}}},
	{name: "envoy/reversed/max=4", cfg: Config{Compat: Envoy, MinRingSize: 4, MaxRingSize: 4}, set: reversed(lbtest.Weighted(1, 1, 1, 2)),
		size: 4, sum: 0x906a0aabf43e10a8, first: []goldenEntry{{265196947217509070, "10.0.0.2:6379"}, {722876464616730656, "10.0.0.3:6379"}, {9563454271602007320, "10.0.0.1:6379"}}},
	{name: "grpc/reversed/max=4", cfg: Config{Compat: GRPC, MinRingSize: 4, MaxRingSize: 4}, set: reversed(lbtest.Weighted(1, 1, 1, 2)),
		size: 4, sum: 0x4e27bf6bad73d45f, first: []goldenEntry{{265196947217509070, "10.0.0.2:6379"}, {9563454271602007320, "10.0.0.1:6379"}, {14014783404034378373, "10.0.0.0:6379"}}},
}

func reversed(bs []balancer.Backend) []balancer.Backend {
	out := make([]balancer.Backend, len(bs))
	for i, b := range bs {
		out[len(bs)-1-i] = b
	}
	return out
}

// TestGolden pins every layout: ring size, the first entries and a
// checksum of the whole ring. A failure here means keys move on upgrade.
func TestGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, g.check)
	}
}
