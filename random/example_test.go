package random_test

import (
	"fmt"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/random"
)

// A Balancer with a seeded source picks the same way on every run; weights
// 3 and 1 split the picks about 3:1.
func Example() {
	bal := balancer.New(random.Config{Rand: balancer.NewSource(1)})
	err := bal.Update([]balancer.Backend{
		{ID: "10.0.0.1:8080", Weight: 3},
		{ID: "10.0.0.2:8080", Weight: 1},
	})
	if err != nil {
		panic(err)
	}
	counts := map[string]int{}
	for range 10000 {
		res, err := bal.Pick(balancer.Request{})
		if err != nil {
			panic(err)
		}
		counts[res.Endpoint.ID]++
		res.Done(balancer.DoneInfo{})
	}
	fmt.Println("10.0.0.1:8080", counts["10.0.0.1:8080"])
	fmt.Println("10.0.0.2:8080", counts["10.0.0.2:8080"])
	// Output:
	// 10.0.0.1:8080 7569
	// 10.0.0.2:8080 2431
}
