package trace_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lbkit/lbkit/sim/trace"
)

// A CSV trace of one pod replacing another. The first line's "ready" of an
// endpoint not yet seen implies its add.
func ExampleReadCSV() {
	const csv = `time,event,endpoint,weight,zone
0,ready,10.0.1.7:8080,,zone-a
1.5s,add,10.0.2.9:8080,,zone-b
11.5,ready,10.0.2.9:8080
12s,unready,10.0.1.7:8080
42s,remove,10.0.1.7:8080
`
	events, err := trace.ReadCSV(strings.NewReader(csv))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range events {
		fmt.Println(strings.TrimSpace(fmt.Sprintln(e.At, e.Kind, e.Endpoint, e.Zone)))
	}
	// Output:
	// 0s add 10.0.1.7:8080 zone-a
	// 0s ready 10.0.1.7:8080 zone-a
	// 1.5s add 10.0.2.9:8080 zone-b
	// 11.5s ready 10.0.2.9:8080
	// 12s unready 10.0.1.7:8080
	// 42s remove 10.0.1.7:8080
}

// Errors name the line.
func ExampleReadCSV_error() {
	_, err := trace.ReadCSV(strings.NewReader("0,add,10.0.1.7:8080\n1s,raedy,10.0.1.7:8080\n"))
	fmt.Println(err)
	// Output:
	// trace: line 2: unknown event "raedy" (want add, ready, unready or remove)
}

// A recording of a rolling update, made with
//
//	kubectl get endpointslices -l kubernetes.io/service-name=web -w -o json --output-watch-events
func ExampleReadEndpointSlices() {
	f, err := os.Open("testdata/rolling-update-watch.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	events, err := trace.ReadEndpointSlices(f, trace.SliceOptions{Service: "shop/web", Port: "http"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range events[6:] {
		fmt.Println(e.At, e.Kind, e.Endpoint)
	}
	// Output:
	// 5s add 10.0.2.1:8080
	// 7.25s add 10.0.2.2:8080
	// 15s ready 10.0.2.1:8080
	// 16s unready 10.0.1.1:8080
	// 16s ready 10.0.2.2:8080
	// 18s unready 10.0.1.3:8080
	// 46s remove 10.0.1.1:8080
	// 48s remove 10.0.1.3:8080
	// 48s remove 10.0.2.2:8080
	// 50s add 10.0.2.2:8080
	// 50s ready 10.0.2.2:8080
}

// A Reader returns the events of a trace one at a time, as it reads them,
// so a trace of any length takes little memory. It returns the events
// before an error first.
func ExampleNewReader() {
	const csv = `time,event,endpoint
0,ready,10.0.1.7:8080
1.5s,add,10.0.2.9:8080
11.5,raedy,10.0.2.9:8080
`
	r := trace.NewReader(strings.NewReader(csv), trace.SliceOptions{})
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(e.At, e.Kind, e.Endpoint)
	}
	// Output:
	// 0s add 10.0.1.7:8080
	// 0s ready 10.0.1.7:8080
	// 1.5s add 10.0.2.9:8080
	// trace: line 4: unknown event "raedy" (want add, ready, unready or remove)
}

// NewReader tells an EndpointSlice stream from CSV by its first byte. Here
// it follows a recording of a rolling update, counting the endpoints ready
// after each event.
func ExampleNewReader_endpointSlices() {
	f, err := os.Open("testdata/rolling-update-watch.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	r := trace.NewReader(f, trace.SliceOptions{Service: "shop/web", Port: "http"})
	ready := map[string]bool{}
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		switch e.Kind {
		case trace.Ready:
			ready[e.Endpoint] = true
		case trace.Unready, trace.Remove:
			delete(ready, e.Endpoint)
		}
		fmt.Printf("%v %v %v: %d ready\n", e.At, e.Kind, e.Endpoint, len(ready))
	}
	// Output:
	// 0s add 10.0.1.1:8080: 0 ready
	// 0s ready 10.0.1.1:8080: 1 ready
	// 0s add 10.0.1.2:8080: 1 ready
	// 0s ready 10.0.1.2:8080: 2 ready
	// 0s add 10.0.1.3:8080: 2 ready
	// 0s ready 10.0.1.3:8080: 3 ready
	// 5s add 10.0.2.1:8080: 3 ready
	// 7.25s add 10.0.2.2:8080: 3 ready
	// 15s ready 10.0.2.1:8080: 4 ready
	// 16s unready 10.0.1.1:8080: 3 ready
	// 16s ready 10.0.2.2:8080: 4 ready
	// 18s unready 10.0.1.3:8080: 3 ready
	// 46s remove 10.0.1.1:8080: 3 ready
	// 48s remove 10.0.1.3:8080: 3 ready
	// 48s remove 10.0.2.2:8080: 2 ready
	// 50s add 10.0.2.2:8080: 2 ready
	// 50s ready 10.0.2.2:8080: 3 ready
}

// WriteCSV writes what ReadCSV reads.
func ExampleWriteCSV() {
	events, err := trace.Read(strings.NewReader("0.25,ready,[fd00::1]:80,3\n2m,remove,[fd00::1]:80\n"), trace.SliceOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := trace.WriteCSV(os.Stdout, events); err != nil {
		fmt.Println(err)
	}
	// Output:
	// time,event,endpoint,weight,zone
	// 0.25,add,[fd00::1]:80,3
	// 0.25,ready,[fd00::1]:80,3
	// 120,remove,[fd00::1]:80
}
