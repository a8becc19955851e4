package trace

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func BenchmarkReadEndpointSlices(b *testing.B) {
	one, err := os.ReadFile("testdata/rolling-update-watch.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100} {
		data := bytes.Repeat(one, n)
		b.Run(fmt.Sprintf("copies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := ReadEndpointSlices(bytes.NewReader(data), SliceOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadCSV(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "%v,add,10.0.%d.%d:8080,,zone-a\n", time.Duration(i)*time.Millisecond, i/256, i%256)
	}
	data := sb.String()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadCSV(strings.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
