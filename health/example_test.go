package health_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/health"
	"github.com/lbkit/lbkit/roundrobin"
)

// A Monitor ejects an endpoint after five failures in a row and brings it
// back when the ejection ends. Time is given, so the example drives it on
// a clock of its own; a proxy calls Start instead.
func Example() {
	bal := balancer.New(roundrobin.Config{})
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	if err := bal.UpdateAt(t0, []balancer.Backend{{ID: "10.0.0.1:80"}, {ID: "10.0.0.2:80"}, {ID: "10.0.0.3:80"}}); err != nil {
		panic(err)
	}
	m, err := health.New(bal, health.Config{
		Outlier: &health.OutlierDetection{}, // Envoy's defaults
		OnEvent: func(ev health.Event) {
			fmt.Println(strings.TrimSpace(fmt.Sprintf("+%ds %s %s %s", (ev.Time-t0)/1e9, ev.Endpoint.ID, ev.Kind, ev.Reason)))
		},
	}, t0)
	if err != nil {
		panic(err)
	}
	now := t0 + 1e9
	for range 5 {
		r, _ := bal.Pick(balancer.Request{Hash: 0, Now: now})
		for r.Endpoint.ID != "10.0.0.2:80" { // send the failures to one endpoint
			r.Done(balancer.DoneInfo{})
			r, _ = bal.Pick(balancer.Request{Now: now})
		}
		r.Done(balancer.DoneInfo{Failure: balancer.UpstreamFailure, Now: now}) // a 503
	}
	fmt.Println("serving:", len(bal.Serving()), "of", len(bal.Endpoints()))
	for now < t0+40e9 {
		now = m.Advance(now)
	}
	fmt.Println("serving:", len(bal.Serving()), "of", len(bal.Endpoints()))
	// Output:
	// +1s 10.0.0.2:80 ejected consecutive_5xx
	// serving: 2 of 3
	// +31s 10.0.0.2:80 returned
	// serving: 3 of 3
}
