package config_test

import (
	"fmt"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/config"
)

// A policy read from a JSON configuration becomes a Balancer.
func Example() {
	alg, err := config.ParseJSON([]byte(`{"algorithm": "least-request", "choices": 3}`))
	if err != nil {
		panic(err)
	}
	builder, err := alg.Builder(nil)
	if err != nil {
		panic(err)
	}
	b := balancer.New(builder)
	if err := b.Update([]balancer.Backend{{ID: "10.0.0.1:80"}, {ID: "10.0.0.2:80"}}); err != nil {
		panic(err)
	}
	r, err := b.Pick(balancer.Request{})
	if err != nil {
		panic(err)
	}
	r.Done(balancer.DoneInfo{})
	fmt.Println(alg, alg.Consistent())
	// Output: least-request {"choices":3} false
}

// Mistakes are errors that say what is wrong.
func ExampleParseJSON_errors() {
	_, err := config.ParseJSON([]byte(`{"algorithm": "maglev", "choices": 2}`))
	fmt.Println(err)
	_, err = config.ParseJSON([]byte(`{"algorithm": "maglev", "tableSize": 4}`))
	fmt.Println(err)
	// Output:
	// config: invalid algorithm configuration: choices does not apply to maglev (it applies to least-request, peak-ewma)
	// config: invalid algorithm configuration: maglev: invalid table size: 4 is not prime
}

// A name stands for an algorithm or one of its presets.
func ExampleParse() {
	alg, _ := config.Parse("maglev-bounded")
	fmt.Printf("%s: %s, bounded at %.2f of the average\n", alg.Name, alg.Base(), alg.BalanceFactor)
	// Output: maglev-bounded: maglev, bounded at 1.25 of the average
}
