package balancer_test

import (
	"fmt"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// primary is a Builder of a tiny algorithm: send everything to the first
// endpoint with the fewest requests in flight.
type primary struct{}

func (primary) Build(eps []*balancer.Endpoint) (balancer.Picker, error) {
	if len(eps) == 0 {
		return balancer.EmptyPicker{}, nil
	}
	return primaryPicker(eps), nil
}

type primaryPicker []*balancer.Endpoint

func (p primaryPicker) Pick(balancer.Request) (*balancer.Endpoint, error) {
	best := p[0]
	for _, e := range p[1:] {
		if e.InFlight() < best.InFlight() {
			best = e
		}
	}
	return best, nil
}

// A Balancer publishes a new Picker on every Update; load counters stay
// with each endpoint ID across updates.
func Example() {
	b := balancer.New(primary{})
	if err := b.Update([]balancer.Backend{
		{ID: "10.0.0.1:8080"},
		{ID: "10.0.0.2:8080"},
	}); err != nil {
		panic(err)
	}

	first, _ := b.Pick(balancer.Request{})
	second, _ := b.Pick(balancer.Request{})
	fmt.Println(first.Endpoint.ID, second.Endpoint.ID)

	// The pod 10.0.0.1 is replaced by 10.0.0.3; 10.0.0.2 keeps its request.
	if err := b.Update([]balancer.Backend{
		{ID: "10.0.0.2:8080"},
		{ID: "10.0.0.3:8080"},
	}); err != nil {
		panic(err)
	}
	for _, e := range b.Endpoints() {
		fmt.Println(e.ID, "in flight:", e.InFlight())
	}

	first.Done(balancer.DoneInfo{Latency: 12 * time.Millisecond})
	second.Done(balancer.DoneInfo{Err: fmt.Errorf("503")})
	e := second.Endpoint
	fmt.Println(e.ID, "completed:", e.Completed(), "failures:", e.Failures())
	// Output:
	// 10.0.0.1:8080 10.0.0.2:8080
	// 10.0.0.2:8080 in flight: 1
	// 10.0.0.3:8080 in flight: 0
	// 10.0.0.2:8080 completed: 1 failures: 1
}

// Update rejects a bad set and keeps serving the previous one.
func ExampleBalancer_Update() {
	b := balancer.New(primary{})
	_ = b.Update([]balancer.Backend{{ID: "a"}, {ID: "b"}})
	err := b.Update([]balancer.Backend{{ID: "a"}, {ID: "a"}})
	fmt.Println(err)
	fmt.Println(len(b.Endpoints()), "endpoints still serving")
	// Output:
	// balancer: invalid backend: backend 1 has the same ID "a" as backend 0
	// 2 endpoints still serving
}

// A Request carries the hash of a key for the hash pickers.
func ExampleKeyRequest() {
	req := balancer.KeyRequest("user-42")
	fmt.Printf("%#x %v\n", req.Hash, req.HasHash)
	// Output: 0x397e9d3a76af7c81 true
}
