package sim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/sim/trace"
)

// A Trace streams back exactly the events it was made of, and summarises
// them.
func TestTraceRoundTrip(t *testing.T) {
	events := genTrace(rand.New(rand.NewPCG(3, 3)), 200, true)
	tr, err := TraceOf(events)
	require.NoError(t, err)
	defer tr.Close()
	for range 2 { // each stream starts from the first event
		src := tr.events()
		var got []trace.Event
		for {
			ev, err := src.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, ev)
		}
		require.Equal(t, events, got)
	}
	var st traceSummer
	for _, ev := range events {
		st.add(ev)
	}
	info := tr.Info()
	assert.Equal(t, st.done(), info)
	assert.Equal(t, len(events), info.Events)
	assert.Equal(t, events[len(events)-1].At, info.Last)
	assert.Positive(t, info.PeakReady)
}

func TestTraceErrors(t *testing.T) {
	_, err := TraceOf(nil)
	require.ErrorIs(t, err, ErrScenario)
	_, err = TraceOf([]trace.Event{{At: time.Second, Kind: trace.Add, Endpoint: "a"}, {At: 0, Kind: trace.Ready, Endpoint: "a"}})
	require.ErrorIs(t, err, trace.ErrOrder)
	_, err = ReadTrace(filepath.Join(t.TempDir(), "missing.csv"))
	require.ErrorIs(t, err, os.ErrNotExist)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("0,ready,a\n1,raedy,b\n"), 0o644))
	_, err = ReadTrace(bad)
	require.ErrorContains(t, err, "bad.csv: trace: line 2: unknown event")
	// A closed Trace fails the run that tries to replay it, with an error.
	tr, err := TraceOf([]trace.Event{{Kind: trace.Add, Endpoint: "a"}, {Kind: trace.Ready, Endpoint: "a"}})
	require.NoError(t, err)
	require.NoError(t, tr.Close())
	_, err = Run(Scenario{Name: "closed", Duration: Duration(time.Second), Workload: Workload{Rate: 10}, TraceFile: tr}, mustAlg(t, "random"), Options{})
	require.ErrorContains(t, err, "replaying the trace")
}

// churnSource generates a long valid trace lazily: pods come, flap and
// go, about 200 live at once, never held in memory.
type churnSource struct {
	n, max int
	queue  []trace.Event
	rng    *rand.Rand
	next   int
	live   []string
	at     time.Duration
}

func (c *churnSource) Next() (trace.Event, error) {
	if c.n >= c.max {
		return trace.Event{}, io.EOF
	}
	for len(c.queue) == 0 {
		c.at += time.Duration(c.rng.IntN(1000)) * time.Millisecond
		switch {
		case len(c.live) < 200 || c.rng.IntN(2) == 0:
			id := fmt.Sprintf("10.%d.%d.%d:80", c.next>>16&255, c.next>>8&255, c.next&255)
			c.next++
			c.live = append(c.live, id)
			c.queue = append(c.queue, trace.Event{At: c.at, Kind: trace.Add, Endpoint: id}, trace.Event{At: c.at, Kind: trace.Ready, Endpoint: id})
		default:
			i := c.rng.IntN(len(c.live))
			id := c.live[i]
			c.live[i] = c.live[len(c.live)-1]
			c.live = c.live[:len(c.live)-1]
			c.queue = append(c.queue, trace.Event{At: c.at, Kind: trace.Remove, Endpoint: id})
		}
	}
	ev := c.queue[0]
	c.queue = c.queue[1:]
	c.n++
	return ev, nil
}

// A long trace is spooled and replayed in memory that does not grow with
// its length: 200,000 events take no more heap than 25,000.
func TestTraceMemoryFlat(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a 200,000-event trace; skipped with -short and -race")
	}
	heap := func(events int) uint64 {
		tr, err := NewTrace(&churnSource{max: events, rng: rand.New(rand.NewPCG(1, 1))})
		require.NoError(t, err)
		defer tr.Close()
		require.Equal(t, events, tr.Info().Events)
		info := tr.Info()
		sc := Scenario{
			Name: "long", Duration: Duration(info.Last + time.Second), Window: Duration(info.Last / 50),
			TraceFile: tr, TraceSpeed: 1, Workload: Workload{Rate: 2},
		}
		var peak uint64
		var ms runtime.MemStats
		opts := Options{Progress: func(float64) {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}}
		runtime.GC()
		_, err = Run(sc, mustAlg(t, "round-robin"), opts)
		require.NoError(t, err)
		return peak
	}
	small, large := heap(25_000), heap(200_000)
	t.Logf("peak heap in use: %.1f MB for 25,000 events, %.1f MB for 200,000", float64(small)/1e6, float64(large)/1e6)
	assert.Less(t, large, small+small/2+8<<20, "the heap grows with the trace's length")
}
