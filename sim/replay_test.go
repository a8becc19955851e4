package sim

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/sim/trace"
)

// genTrace generates a valid trace over a small pool of endpoints: adds,
// readiness flaps, removes and re-adds of the same ID, and, when
// weighted, weight and zone changes riding on any event. Endpoints change
// at most once an instant; several change at some instants.
func genTrace(rng *rand.Rand, steps int, weighted bool) []trace.Event {
	const pool = 10
	phase := make([]int, pool) // 0 absent, 1 known, 2 ready
	var events []trace.Event
	for step := range steps {
		at := time.Duration(step) * time.Second
		touched := map[int]bool{}
		for range 1 + rng.IntN(3) {
			i := rng.IntN(pool)
			if touched[i] {
				continue
			}
			touched[i] = true
			var kinds []trace.Kind
			switch phase[i] {
			case 0:
				kinds = []trace.Kind{trace.Add}
			case 1:
				kinds = []trace.Kind{trace.Ready, trace.Ready, trace.Remove}
			case 2:
				kinds = []trace.Kind{trace.Unready, trace.Unready, trace.Remove}
			}
			ev := trace.Event{At: at, Kind: kinds[rng.IntN(len(kinds))], Endpoint: fmt.Sprintf("10.0.0.%d:8080", i)}
			if weighted {
				if rng.IntN(3) == 0 {
					ev.Weight = uint32(1 + rng.IntN(5))
				}
				if rng.IntN(4) == 0 {
					ev.Zone = []string{"zone-a", "zone-b"}[rng.IntN(2)]
				}
			} else {
				ev.Zone = []string{"zone-a", "zone-b"}[i%2] // EndpointSlices carry a zone, not a weight
			}
			switch ev.Kind {
			case trace.Add, trace.Unready:
				phase[i] = 1
			case trace.Ready:
				phase[i] = 2
			case trace.Remove:
				phase[i] = 0
			}
			events = append(events, ev)
		}
	}
	return events
}

// expectedSets computes, independently of the simulator, the ready set
// the trace describes at the end of each instant, by time.
func expectedSets(events []trace.Event, defWeight uint32) map[time.Duration][]balancer.Backend {
	type state struct {
		known, ready bool
		weight       uint32
		zone         string
	}
	eps := map[string]*state{}
	sets := map[time.Duration][]balancer.Backend{}
	for i, ev := range events {
		s := eps[ev.Endpoint]
		if s == nil || !s.known {
			s = &state{weight: defWeight}
			eps[ev.Endpoint] = s
		}
		s.known = ev.Kind != trace.Remove
		if ev.Weight != 0 {
			s.weight = ev.Weight
		}
		if ev.Zone != "" {
			s.zone = ev.Zone
		}
		switch ev.Kind {
		case trace.Ready:
			s.ready = true
		case trace.Unready, trace.Remove:
			s.ready = false
		}
		if i+1 == len(events) || events[i+1].At > ev.At {
			var set []balancer.Backend
			for id, s := range eps {
				if s.known && s.ready {
					set = append(set, balancer.Backend{ID: id, Weight: s.weight, Zone: s.zone})
				}
			}
			sets[ev.At] = sortBackends(set)
		}
	}
	return sets
}

func sortBackends(set []balancer.Backend) []balancer.Backend {
	slices.SortFunc(set, func(a, b balancer.Backend) int { return cmp.Compare(a.ID, b.ID) })
	return set
}

// checkReplay replays events with no propagation delay and checks, at the
// end of every instant, that every proxy's endpoint set is the one the
// trace describes at that time.
func checkReplay(t *testing.T, events []trace.Event) {
	t.Helper()
	want := expectedSets(events, 1)
	sc := Scenario{
		Name: "replay-property", Duration: Duration(events[len(events)-1].At + time.Second),
		Workload:    Workload{Rate: 50},
		Proxies:     Proxies{Replicas: 3},
		TraceEvents: events,
	}
	// Every other trace goes through a spooled Trace, as a file would.
	if events[0].Endpoint[len(events[0].Endpoint)-6]%2 == 0 {
		tr, err := TraceOf(events)
		require.NoError(t, err)
		defer tr.Close()
		sc.TraceEvents, sc.TraceFile = nil, tr
	}
	var times []time.Duration
	for at := range want {
		times = append(times, at)
	}
	slices.Sort(times)
	checked := 0
	opts := Options{instant: func(r *run) {
		// The trace's state at r.now is the one of its last instant at or
		// before it.
		i, found := slices.BinarySearch(times, r.now)
		if !found {
			i--
		}
		var exp []balancer.Backend
		if i >= 0 {
			exp = want[times[i]]
		}
		for pi := range r.proxies {
			var got []balancer.Backend
			for _, e := range r.proxies[pi].bal.Endpoints() {
				b := e.Backend
				b.Addr = ""
				got = append(got, b)
			}
			require.Equal(t, fmt.Sprint(exp), fmt.Sprint(sortBackends(got)), "proxy %d at %v", pi, r.now)
		}
		if found {
			checked++
		}
	}}
	_, err := Run(sc, mustAlg(t, "round-robin"), opts)
	require.NoError(t, err)
	// Every instant after the first (applied before the clock starts) is
	// seen.
	require.GreaterOrEqual(t, checked, len(times)-1)
}

// traceSeeds is how many generated traces each replay property test
// checks: fewer under the race detector, which is ten times slower.
func traceSeeds() uint64 {
	if raceEnabled || testing.Short() {
		return 8
	}
	return 40
}

// The replay follows a trace exactly, through the CSV reader.
func TestReplayFollowsCSVTrace(t *testing.T) {
	for seed := range traceSeeds() {
		rng := rand.New(rand.NewPCG(seed, 1))
		events := genTrace(rng, 60, true)
		var buf bytes.Buffer
		require.NoError(t, trace.WriteCSV(&buf, events))
		read, err := trace.ReadCSV(&buf)
		require.NoError(t, err)
		checkReplay(t, read)
	}
}

// The replay follows a trace exactly, through the EndpointSlice reader:
// the trace is written as a watch of three slices and read back.
func TestReplayFollowsEndpointSlices(t *testing.T) {
	for seed := range traceSeeds() {
		rng := rand.New(rand.NewPCG(seed, 2))
		events := genTrace(rng, 60, false)
		read, err := trace.ReadEndpointSlices(strings.NewReader(sliceWatch(events, 3)), trace.SliceOptions{})
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(expectedSets(events, 1)), fmt.Sprint(expectedSets(read, 1)))
		checkReplay(t, read)
	}
}

// sliceWatch writes events as a kubectl watch of n EndpointSlices of one
// service: at each instant, a MODIFIED event for every slice that changed,
// annotated with the instant's time.
func sliceWatch(events []trace.Event, n int) string {
	type ep struct {
		ready bool
		zone  string
	}
	members := make([]map[string]ep, n)
	for i := range members {
		members[i] = map[string]ep{}
	}
	sliceOf := func(id string) int {
		var h int
		for _, c := range id {
			h = h*31 + int(c)
		}
		return (h%n + n) % n
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out strings.Builder
	for i := 0; i < len(events); {
		at := events[i].At
		changed := map[int]bool{}
		for ; i < len(events) && events[i].At == at; i++ {
			ev := events[i]
			s := sliceOf(ev.Endpoint)
			changed[s] = true
			switch ev.Kind {
			case trace.Add, trace.Unready:
				members[s][ev.Endpoint] = ep{false, ev.Zone}
			case trace.Ready:
				members[s][ev.Endpoint] = ep{true, ev.Zone}
			case trace.Remove:
				delete(members[s], ev.Endpoint)
			}
		}
		for s := range n {
			if !changed[s] {
				continue
			}
			var eps []string
			ids := make([]string, 0, len(members[s]))
			for id := range members[s] {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			for _, id := range ids {
				m := members[s][id]
				eps = append(eps, fmt.Sprintf(`{"addresses":[%q],"conditions":{"ready":%v},"zone":%q}`,
					strings.TrimSuffix(id, ":8080"), m.ready, m.zone))
			}
			fmt.Fprintf(&out, `{"type":"MODIFIED","object":{"kind":"EndpointSlice","metadata":{"name":"web-%d","namespace":"default",`+
				`"labels":{"kubernetes.io/service-name":"web"},"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":%q}},`+
				`"addressType":"IPv4","endpoints":[%s],"ports":[{"name":"http","port":8080}]}}`+"\n",
				s, base.Add(at).Format(time.RFC3339Nano), strings.Join(eps, ","))
		}
	}
	return out.String()
}

// The trace in the issue: four endpoints, two of which flap once. The
// replay sees all four changes and never fewer than three endpoints.
func TestReplayFlap(t *testing.T) {
	events, err := trace.ReadCSV(strings.NewReader("0,ready,a\n0,ready,b\n0,ready,c\n0,ready,d\n5,unready,a\n10,ready,a\n15,unready,b\n20,ready,b\n"))
	require.NoError(t, err)
	sc := Scenario{Name: "flap", Duration: Duration(30 * time.Second), Workload: Workload{Rate: 100}, TraceEvents: events}
	res, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Changes)
	require.Equal(t, 3, res.MinEndpoints)
	require.Equal(t, 4, res.MaxEndpoints)
	require.Zero(t, res.Failed)
}
