package ringhash_test

import (
	"fmt"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/ringhash"
)

// A session key sticks to one endpoint, a retry goes to the next distinct
// endpoint along the ring, and removing an unrelated endpoint leaves the
// key where it was.
func Example() {
	bal := balancer.New(ringhash.Config{})
	backends := []balancer.Backend{
		{ID: "10.0.0.1:8080"}, {ID: "10.0.0.2:8080"}, {ID: "10.0.0.3:8080"}, {ID: "10.0.0.4:8080", Weight: 2},
	}
	if err := bal.Update(backends); err != nil {
		panic(err)
	}
	req := balancer.KeyRequest("session-42")
	first, _ := bal.Pick(req)
	fmt.Println("first try:", first.Endpoint.ID)
	first.Done(balancer.DoneInfo{})

	req.Attempt = 1
	retry, _ := bal.Pick(req)
	fmt.Println("retry:    ", retry.Endpoint.ID)
	retry.Done(balancer.DoneInfo{})

	// Drop an endpoint the key does not use.
	var rest []balancer.Backend
	for _, b := range backends {
		if b.ID == first.Endpoint.ID || b.ID == retry.Endpoint.ID {
			rest = append(rest, b)
		}
	}
	if err := bal.Update(rest); err != nil {
		panic(err)
	}
	req.Attempt = 0
	again, _ := bal.Pick(req)
	fmt.Println("after:    ", again.Endpoint.ID)
	again.Done(balancer.DoneInfo{})
	// Output:
	// first try: 10.0.0.1:8080
	// retry:     10.0.0.2:8080
	// after:     10.0.0.1:8080
}

// Bounded loads: with BalanceFactor 1.25 a hot key spills over to the next
// endpoints along the ring once its own endpoint holds 25% more than the
// average.
func Example_boundedLoads() {
	bal := balancer.New(ringhash.Config{BalanceFactor: 1.25})
	if err := bal.Update([]balancer.Backend{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}); err != nil {
		panic(err)
	}
	hot := balancer.KeyRequest("popular-item")
	perEndpoint := map[string]int{}
	for range 100 {
		res, _ := bal.Pick(hot) // never Done: all 100 stay in flight
		perEndpoint[res.Endpoint.ID]++
	}
	fmt.Println(perEndpoint)
	// Output:
	// map[a:6 b:31 c:32 d:31]
}

// The Envoy layout reproduces Envoy's ring entry for entry, so lbkit and
// Envoy send the same key to the same host.
func Example_envoy() {
	p, err := ringhash.Config{Compat: ringhash.Envoy, MinRingSize: 12}.Build([]*balancer.Endpoint{
		balancer.NewEndpoint(balancer.Backend{ID: "127.0.0.1:90"}),
		balancer.NewEndpoint(balancer.Backend{ID: "127.0.0.1:91"}),
		balancer.NewEndpoint(balancer.Backend{ID: "127.0.0.1:92"}),
		balancer.NewEndpoint(balancer.Backend{ID: "127.0.0.1:93"}),
		balancer.NewEndpoint(balancer.Backend{ID: "127.0.0.1:94"}),
		balancer.NewEndpoint(balancer.Backend{ID: "127.0.0.1:95"}),
	})
	if err != nil {
		panic(err)
	}
	// Hashes and hosts from Envoy's own test of this ring.
	for _, h := range []uint64{0, 3551244743356806947, 3551244743356806948} {
		e, _ := p.Pick(balancer.Request{Hash: h, HasHash: true})
		fmt.Println(h, "->", e.ID)
	}
	// Output:
	// 0 -> 127.0.0.1:94
	// 3551244743356806947 -> 127.0.0.1:95
	// 3551244743356806948 -> 127.0.0.1:93
}

// Bad configurations get an error, never a panic.
func ExampleConfig_Build_errors() {
	_, err := ringhash.Config{MinRingSize: 2048, MaxRingSize: 1024}.Build(nil)
	fmt.Println(err)
	_, err = ringhash.Config{BalanceFactor: 0.8}.Build(nil)
	fmt.Println(err)
	// Output:
	// ringhash: invalid config: MinRingSize 2048 > MaxRingSize 1024
	// ringhash: invalid config: BalanceFactor 0.8: want 0 (off) or a finite number >= 1
}
