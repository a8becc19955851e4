package leastconn_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/lbtest"
	"github.com/lbkit/lbkit/leastconn"
)

func BenchmarkPick(b *testing.B)         { lbtest.BenchPick(b, leastconn.Config{}, false) }
func BenchmarkPickParallel(b *testing.B) { lbtest.BenchPick(b, leastconn.Config{}, true) }

// benchLoop picks serially from c over eps at every size in lbtest.Sizes
// (or the sizes given), with requests whose Now is fixed.
func benchLoop(b *testing.B, c leastconn.Config, sizes []int, weighted bool) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			bs := lbtest.Backends(n)
			if weighted {
				for i := range bs {
					bs[i].Weight = uint32(1 + i%7)
				}
			}
			eps := lbtest.Endpoints(bs)
			for i, e := range eps {
				for range i % 5 {
					e.Begin()
				}
				e.Begin().Done(balancer.DoneInfo{Latency: time.Duration(1+i%13) * time.Millisecond, Now: now.UnixNano()})
			}
			p := lbtest.MustBuild(b, c, eps)
			req := balancer.Request{Now: now.Add(time.Second).UnixNano()}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = p.Pick(req)
			}
		})
	}
}

func BenchmarkPickChoices(b *testing.B) {
	for _, d := range []int{3, 10} {
		b.Run(fmt.Sprintf("d=%d", d), func(b *testing.B) {
			benchLoop(b, leastconn.Config{Choices: d}, []int{100, 10000}, false)
		})
	}
}

func BenchmarkPickWeighted(b *testing.B) {
	benchLoop(b, leastconn.Config{}, lbtest.Sizes, true)
}

func BenchmarkPickFullScan(b *testing.B) {
	benchLoop(b, leastconn.Config{FullScan: true}, lbtest.Sizes, false)
}

func BenchmarkPickPeakEWMA(b *testing.B) {
	benchLoop(b, leastconn.Config{PeakEWMA: true}, lbtest.Sizes, false)
}

func BenchmarkPickPeakEWMAFullScan(b *testing.B) {
	benchLoop(b, leastconn.Config{PeakEWMA: true, FullScan: true}, []int{10, 100, 1000}, false)
}
