package random_test

import (
	"testing"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/random"
)

func BenchmarkPick(b *testing.B)         { lbtest.BenchPick(b, random.Config{}, false) }
func BenchmarkPickParallel(b *testing.B) { lbtest.BenchPick(b, random.Config{}, true) }

// BenchmarkPickWeighted picks from endpoints weighted 1..5, repeating,
// through the alias table.
func BenchmarkPickWeighted(b *testing.B) {
	lbtest.BenchPickSet(b, random.Config{}, false, weighted)
}

// BenchmarkPickWeightedParallel is BenchmarkPickWeighted with
// b.RunParallel.
func BenchmarkPickWeightedParallel(b *testing.B) {
	lbtest.BenchPickSet(b, random.Config{}, true, weighted)
}

func weighted(n int) []balancer.Backend { return lbtest.Cyclic(n, 5) }
