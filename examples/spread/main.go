// Command spread builds a Balancer for every algorithm lbsim compares
// (sim.Algorithms) over the same ten endpoints and prints how 10,000 picks
// spread across them, with 100 requests kept in flight so that the
// load-aware pickers have load to see.
//
//	go run ./examples/spread
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/sim"
)

func main() {
	picks := flag.Int("picks", 10_000, "picks per algorithm")
	inflight := flag.Int("inflight", 100, "requests kept in flight")
	keys := flag.Int("keys", 1_000, "distinct request keys for the hash pickers (Zipf-free, uniform)")
	weighted := flag.Bool("weighted", false, "give endpoint i weight i+1")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *picks < 1 || *inflight < 0 || *keys < 1 {
		fmt.Fprintln(os.Stderr, "spread: -picks and -keys must be positive, -inflight not negative")
		os.Exit(2)
	}

	backends := make([]balancer.Backend, 10)
	for i := range backends {
		backends[i] = balancer.Backend{ID: fmt.Sprintf("10.0.0.%d:8080", i+1)}
		if *weighted {
			backends[i].Weight = uint32(i + 1)
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "algorithm\t")
	for i := range backends {
		fmt.Fprintf(w, "ep%d\t", i+1)
	}
	fmt.Fprintln(w, "peak/mean\tCV\t")
	for _, a := range sim.Algorithms() {
		counts, err := spread(a, backends, *picks, *inflight, *keys, *seed)
		if err != nil {
			fmt.Fprintf(os.Stderr, "spread: %s: %v\n", a.Name, err)
			os.Exit(1)
		}
		fmt.Fprintf(w, "%s\t", a.Name)
		for _, c := range counts {
			fmt.Fprintf(w, "%d\t", c)
		}
		p2m, cv := stats(counts, backends)
		fmt.Fprintf(w, "%.3f\t%.3f\t\n", p2m, cv)
	}
	_ = w.Flush()
}

// spread runs picks picks through a fresh Balancer, ending the oldest
// request whenever more than inflight are outstanding, and returns the
// picks per endpoint.
func spread(a sim.Algorithm, backends []balancer.Backend, picks, inflight, keys int, seed uint64) ([]int, error) {
	b := balancer.New(a.New(balancer.NewSource(seed)))
	if err := b.Update(backends); err != nil {
		return nil, err
	}
	index := map[string]int{}
	for i, be := range backends {
		index[be.ID] = i
	}
	keyRand := balancer.NewSource(seed + 1)
	counts := make([]int, len(backends))
	window := make([]balancer.Result, 0, inflight+1)
	for range picks {
		req := balancer.Request{}
		if a.Consistent {
			req = balancer.KeyRequest("user-" + strconv.FormatUint(keyRand.Uint64()%uint64(keys), 10))
		}
		r, err := b.Pick(req)
		if err != nil {
			return nil, err
		}
		counts[index[r.Endpoint.ID]]++
		window = append(window, r)
		if len(window) > inflight {
			window[0].Done(balancer.DoneInfo{})
			window = window[1:]
		}
	}
	for _, r := range window {
		r.Done(balancer.DoneInfo{})
	}
	return counts, nil
}

// stats returns the peak-to-mean ratio and the coefficient of variation of
// the picks per unit of weight.
func stats(counts []int, backends []balancer.Backend) (p2m, cv float64) {
	loads := make([]float64, len(counts))
	var sum float64
	for i, c := range counts {
		w := float64(max(backends[i].Weight, 1))
		loads[i] = float64(c) / w
		sum += loads[i]
	}
	mean := sum / float64(len(loads))
	var peak, sq float64
	for _, l := range loads {
		peak = max(peak, l)
		sq += (l - mean) * (l - mean)
	}
	return peak / mean, math.Sqrt(sq/float64(len(loads))) / mean
}
