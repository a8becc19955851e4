package maglev_test

import (
	"fmt"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/maglev"
)

func Example() {
	bal := balancer.New(maglev.Config{})
	err := bal.Update([]balancer.Backend{
		{ID: "10.0.0.1:8080"},
		{ID: "10.0.0.2:8080"},
		{ID: "10.0.0.3:8080", Weight: 2},
	})
	if err != nil {
		panic(err)
	}
	for _, user := range []string{"alice", "bob", "carol", "alice"} {
		res, err := bal.Pick(balancer.KeyRequest(user))
		if err != nil {
			panic(err)
		}
		fmt.Println(user, "->", res.Endpoint.ID)
		res.Done(balancer.DoneInfo{})
	}
	// A retry perturbs the hash as Envoy does and lands elsewhere.
	retry := balancer.KeyRequest("alice")
	retry.Attempt = 1
	res, _ := bal.Pick(retry)
	fmt.Println("alice, retry 1 ->", res.Endpoint.ID)
	res.Done(balancer.DoneInfo{})
	// Output:
	// alice -> 10.0.0.2:8080
	// bob -> 10.0.0.3:8080
	// carol -> 10.0.0.1:8080
	// alice -> 10.0.0.2:8080
	// alice, retry 1 -> 10.0.0.3:8080
}

// The worked example of the package documentation: three endpoints in a
// table of 7 slots.
func Example_table() {
	p, err := maglev.Config{TableSize: 7}.Build([]*balancer.Endpoint{
		balancer.NewEndpoint(balancer.Backend{ID: "c"}),
		balancer.NewEndpoint(balancer.Backend{ID: "a"}),
		balancer.NewEndpoint(balancer.Backend{ID: "b"}),
	})
	if err != nil {
		panic(err)
	}
	for slot := range uint64(7) {
		e, _ := p.Pick(balancer.Request{Hash: slot, HasHash: true})
		fmt.Print(e.ID, " ")
	}
	fmt.Println()
	// Output: a c a b b c a
}

// A balance factor bounds every endpoint's load, even under one hot key.
func Example_boundedLoads() {
	bal := balancer.New(maglev.Config{BalanceFactor: 1.25})
	backends := []balancer.Backend{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	if err := bal.Update(backends); err != nil {
		panic(err)
	}
	for range 100 { // 100 requests for one key, none finished yet
		if _, err := bal.Pick(balancer.KeyRequest("hot")); err != nil {
			panic(err)
		}
	}
	for _, e := range bal.Endpoints() {
		fmt.Println(e.ID, e.InFlight())
	}
	// Each holds at most ceil(1.25 × 100 / 4) = 32.
	// Output:
	// a 31
	// b 31
	// c 6
	// d 32
}
