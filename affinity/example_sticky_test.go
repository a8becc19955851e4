package affinity_test

import (
	"fmt"
	"time"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/roundrobin"
)

// A client's requests stick to the endpoint of its first one, as with
// kube-proxy's sessionAffinity: ClientIP, until it stays away for the
// timeout or its endpoint leaves.
func ExampleSticky() {
	b := balancer.New(roundrobin.Config{Rand: balancer.NewSource(1)})
	if err := b.Update([]balancer.Backend{{ID: "10.0.0.1:8080"}, {ID: "10.0.0.2:8080"}, {ID: "10.0.0.3:8080"}}); err != nil {
		panic(err)
	}
	s, err := affinity.NewSticky(affinity.StickyConfig{Timeout: 10 * time.Minute})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	client := balancer.HashString("192.0.2.7") // the key: a hash of the client's IP address
	request := func(at time.Duration) *balancer.Endpoint {
		res, hit, err := s.Pick(b, client, balancer.Request{}, start.Add(at).UnixNano())
		if err != nil {
			panic(err)
		}
		defer res.Done(balancer.DoneInfo{})
		how := "through the Balancer"
		if hit {
			how = "sticks"
		}
		fmt.Printf("%-5v %s %s\n", at, res.Endpoint.ID, how)
		return res.Endpoint
	}
	request(0)
	request(time.Minute)
	request(9 * time.Minute) // each request refreshes the session
	request(19 * time.Minute)
	request(30 * time.Minute) // 11 minutes without a request: a new session
	e := request(31 * time.Minute)
	var rest []balancer.Backend
	for _, x := range b.Endpoints() {
		if x.ID != e.ID {
			rest = append(rest, x.Backend)
		}
	}
	if err := b.Update(rest); err != nil { // the session's endpoint leaves
		panic(err)
	}
	request(32 * time.Minute)
	request(33 * time.Minute)
	fmt.Println("sessions:", s.Len())
	// Output:
	// 0s    10.0.0.2:8080 through the Balancer
	// 1m0s  10.0.0.2:8080 sticks
	// 9m0s  10.0.0.2:8080 sticks
	// 19m0s 10.0.0.2:8080 sticks
	// 30m0s 10.0.0.3:8080 through the Balancer
	// 31m0s 10.0.0.3:8080 sticks
	// 32m0s 10.0.0.2:8080 through the Balancer
	// 33m0s 10.0.0.2:8080 sticks
	// sessions: 1
}
