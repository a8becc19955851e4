package leastconn_test

import (
	"fmt"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/leastconn"
)

// Two choices keep requests in flight even: ten requests left open on
// three endpoints end up 3, 3, 4, where random picks often leave one
// endpoint twice as busy as another.
func Example() {
	bal := balancer.New(leastconn.Config{Rand: balancer.NewSource(1)})
	if err := bal.Update([]balancer.Backend{{ID: "a"}, {ID: "b"}, {ID: "c"}}); err != nil {
		panic(err)
	}
	for range 10 {
		if _, err := bal.Pick(balancer.Request{}); err != nil {
			panic(err)
		}
	}
	for _, e := range bal.Endpoints() {
		fmt.Println(e.ID, e.InFlight())
	}
	// Output:
	// a 3
	// b 3
	// c 4
}

// Peak EWMA avoids an endpoint that has turned slow. The clock is explicit
// (Request.Now, DoneInfo.Now), as a simulator drives it.
func Example_peakEWMA() {
	bal := balancer.New(leastconn.Config{PeakEWMA: true, Rand: balancer.NewSource(1)})
	if err := bal.Update([]balancer.Backend{{ID: "fast"}, {ID: "slow"}, {ID: "new"}}); err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range bal.Endpoints() {
		lat := map[string]time.Duration{"fast": 5 * time.Millisecond, "slow": 500 * time.Millisecond}[e.ID]
		if lat > 0 {
			e.Begin().Done(balancer.DoneInfo{Latency: lat, Now: now.UnixNano()})
		}
	}
	counts := map[string]int{}
	for range 300 {
		res, err := bal.Pick(balancer.Request{Now: now.UnixNano()})
		if err != nil {
			panic(err)
		}
		counts[res.Endpoint.ID]++
		res.Done(balancer.DoneInfo{})
	}
	// "new" has no sample and costs the default 30 ms: it wins against
	// "slow", loses against "fast".
	fmt.Println("fast", counts["fast"], "new", counts["new"], "slow", counts["slow"])
	// Output:
	// fast 191 new 109 slow 0
}
