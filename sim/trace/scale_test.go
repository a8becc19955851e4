package trace

import (
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The watch of the scale test and benchmark, the size the old reader took
// 75s to read: 20,200 updates of 100 slices of 100 endpoints.
const (
	watchSlices   = 100
	watchPerSlice = 100
	watchUpdates  = 20200
)

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// heapSampler samples the heap in use as events are read.
type heapSampler struct {
	every int    // events between samples
	peak  uint64 // the most heap in use seen
	first uint64 // the most heap in use seen in the first half of the samples
	last  uint64 // and in the second half
	n     int    // samples
}

func (h *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapInuse)
	h.n++
	if h.n%2 == 1 {
		h.first = max(h.first, ms.HeapInuse)
	} else {
		h.last = max(h.last, ms.HeapInuse)
	}
}

// readSampled reads r to its end, sampling the heap every so many events,
// and returns how many events it read.
func readSampled(t testing.TB, r *Reader, h *heapSampler) int {
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n
		}
		require.NoError(t, err)
		n++
		if n%h.every == 0 {
			h.sample()
		}
	}
}

const mb = 1 << 20 // a MiB

// The readers stream: they read a watch far larger than the memory they
// use, which does not grow as they read on.
func TestReaderScaleWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 640 MB of JSON")
	}
	updates := watchUpdates
	if raceEnabled {
		updates /= 20
	}
	runtime.GC()
	g := newWatchGen(watchSlices, watchPerSlice, updates, 1)
	in := &counter{r: g}
	h := &heapSampler{every: 1000}
	start := time.Now()
	n := readSampled(t, NewSliceReader(in, SliceOptions{}), h)
	elapsed := time.Since(start)
	t.Logf("%d updates, %.0f MB, %d events in %v (%.0f MB/s); heap in use at most %d MiB (%d samples)",
		updates, float64(in.n)/1e6, n, elapsed.Round(time.Millisecond), float64(in.n)/1e6/elapsed.Seconds(), h.peak/mb, h.n)

	require.Equal(t, g.Events, n, "events read and made")
	assert.Greater(t, n, watchSlices*watchPerSlice+updates, "an add, and a ready for most endpoints, then a change an update")
	assert.Greater(t, h.n, 10)
	// The endpoints and slices take a few MB, the largest value 32 KB.
	assert.Less(t, h.peak, uint64(48*mb), "the heap holds more than the state of the watch")
	if !raceEnabled {
		assert.Less(t, h.peak, uint64(in.n/8), "the heap holds the stream")
	}
	assert.Less(t, h.last, h.first+16*mb, "the heap grows as the reader reads on")
}

func TestReaderScaleCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("reads a million lines")
	}
	lines := 1_000_000
	if raceEnabled {
		lines /= 20
	}
	runtime.GC()
	in := &counter{r: &csvGen{Lines: lines, Endpoints: 10_000}}
	h := &heapSampler{every: 10_000}
	start := time.Now()
	n := readSampled(t, NewCSVReader(in), h)
	elapsed := time.Since(start)
	t.Logf("%d lines, %.0f MB in %v (%.0f MB/s, %.1f M lines/s); heap in use at most %d MiB (%d samples)",
		lines, float64(in.n)/1e6, elapsed.Round(time.Millisecond), float64(in.n)/1e6/elapsed.Seconds(),
		float64(lines)/1e6/elapsed.Seconds(), h.peak/mb, h.n)

	require.Equal(t, lines, n, "one event a line")
	// 10,000 live endpoints take a MB; the events, were they kept, 70.
	assert.Less(t, h.peak, uint64(24*mb), "the heap holds more than the live endpoints")
	assert.Less(t, h.last, h.first+8*mb, "the heap grows as the reader reads on")
}

func BenchmarkReadWatch(b *testing.B) {
	for _, updates := range []int{watchUpdates / 10, watchUpdates} {
		b.Run(fmt.Sprintf("updates=%d", updates), func(b *testing.B) {
			size, err := io.Copy(io.Discard, newWatchGen(watchSlices, watchPerSlice, updates, 1))
			require.NoError(b, err)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				r := NewSliceReader(newWatchGen(watchSlices, watchPerSlice, updates, 1), SliceOptions{})
				for {
					if _, err := r.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
	// The old reader, for comparison, on the smaller watch: it would take
	// a minute and more on the larger.
	b.Run(fmt.Sprintf("old/updates=%d", watchUpdates/10), func(b *testing.B) {
		size, err := io.Copy(io.Discard, newWatchGen(watchSlices, watchPerSlice, watchUpdates/10, 1))
		require.NoError(b, err)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oldReadEndpointSlices(newWatchGen(watchSlices, watchPerSlice, watchUpdates/10, 1), SliceOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWatchGen is the cost of making the watch, which the figures of
// BenchmarkReadWatch include.
func BenchmarkWatchGen(b *testing.B) {
	size, err := io.Copy(io.Discard, newWatchGen(watchSlices, watchPerSlice, watchUpdates, 1))
	require.NoError(b, err)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.Copy(io.Discard, newWatchGen(watchSlices, watchPerSlice, watchUpdates, 1)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadCSVStream(b *testing.B) {
	const lines = 1_000_000
	size, err := io.Copy(io.Discard, &csvGen{Lines: lines, Endpoints: 10_000})
	require.NoError(b, err)
	b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			r := NewCSVReader(&csvGen{Lines: lines, Endpoints: 10_000})
			for {
				if _, err := r.Next(); err != nil {
					if err != io.EOF {
						b.Fatal(err)
					}
					break
				}
			}
		}
	})
	// The old reader, which kept the events, for comparison.
	b.Run(fmt.Sprintf("old/lines=%d", lines), func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oldReadCSV(&csvGen{Lines: lines, Endpoints: 10_000}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
