package roundrobin_test

import (
	"fmt"
	"strings"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/roundrobin"
)

// walk returns n picks from p as a line of endpoint IDs.
func walk(p balancer.Picker, n int) string {
	ids := make([]string, n)
	for i := range ids {
		e, err := p.Pick(balancer.Request{})
		if err != nil {
			return err.Error()
		}
		ids[i] = e.ID
	}
	return strings.Join(ids, " ")
}

// Equal weights walk the endpoints in order from a random start; a seeded
// Rand makes the start reproducible.
func ExampleConfig() {
	eps := []*balancer.Endpoint{
		balancer.NewEndpoint(balancer.Backend{ID: "a"}),
		balancer.NewEndpoint(balancer.Backend{ID: "b"}),
		balancer.NewEndpoint(balancer.Backend{ID: "c"}),
	}
	p, err := roundrobin.Config{Rand: balancer.NewSource(1)}.Build(eps)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(walk(p, 7))
	// Output:
	// b c a b c a b
}

// Weights 5:1:1 give a cycle of 7 in which the heavy endpoint never gets
// more than 3 picks in a row, not even across the end of the cycle.
func ExampleConfig_weighted() {
	eps := []*balancer.Endpoint{
		balancer.NewEndpoint(balancer.Backend{ID: "H", Weight: 5}),
		balancer.NewEndpoint(balancer.Backend{ID: "x", Weight: 1}),
		balancer.NewEndpoint(balancer.Backend{ID: "y", Weight: 1}),
	}
	p, err := roundrobin.Config{Rand: balancer.NewSource(1)}.Build(eps)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(walk(p, 14))
	// Output:
	// H H y H H H x H H y H H H x
}

// With a Balancer, Update swaps in a new Picker built by the Config; the
// Request is ignored, so retries simply move on to the next endpoint.
func ExampleConfig_balancer() {
	bal := balancer.New(roundrobin.Config{Rand: balancer.NewSource(4)})
	if err := bal.Update([]balancer.Backend{{ID: "10.0.0.1:80"}, {ID: "10.0.0.2:80"}}); err != nil {
		fmt.Println(err)
		return
	}
	for attempt := range 3 {
		res, err := bal.Pick(balancer.Request{Attempt: attempt})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(attempt, res.Endpoint.ID)
		res.Done(balancer.DoneInfo{})
	}
	// Output:
	// 0 10.0.0.1:80
	// 1 10.0.0.2:80
	// 2 10.0.0.1:80
}
