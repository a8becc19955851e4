// Command httpproxy is an HTTP reverse proxy that balances requests over a
// static list of backends with any lbkit algorithm: the smallest complete
// example of embedding a balancer.Balancer in a proxy.
//
//	go run ./examples/httpproxy -backends http://127.0.0.1:9001,http://127.0.0.1:9002 -algorithm least-request
//	go run ./examples/httpproxy -backends ... -algorithm maglev -hash-header X-User
//
// Every request is picked (Balancer.Pick counts it in flight), proxied with
// net/http/httputil.ReverseProxy, and ended with Result.Done, which feeds
// the endpoint's latency and outcome back to the picker. GET /lbz on the
// proxy shows each endpoint's live counters.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	backends := flag.String("backends", "", "comma-separated backend URLs, e.g. http://10.0.0.7:8080")
	algorithm := flag.String("algorithm", "least-request", "one of "+strings.Join(algorithmNames(), ", "))
	hashHeader := flag.String("hash-header", "", "header whose value is the request key for the hash algorithms (e.g. X-User); empty means none")
	flag.Parse()

	p, err := newProxy(config{algorithm: *algorithm, hashHeader: *hashHeader})
	if err == nil {
		err = p.setBackends(strings.Split(*backends, ","))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpproxy:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lbz", p.status)
	mux.Handle("/", p)
	log.Printf("httpproxy: %s over %s on http://%s", *algorithm, *backends, *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
