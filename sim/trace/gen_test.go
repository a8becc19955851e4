package trace

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// watchGen writes, lazily as it is read, a watch stream of one service's
// EndpointSlices in the layout of
//
//	kubectl get endpointslices -w -o json --output-watch-events
//
// (pretty-printed, four spaces an indent): Slices slices of PerSlice
// endpoints each, first ADDED in turn and then MODIFIED in turn until there
// have been Updates updates. Each MODIFIED update flips the readiness of one
// endpoint of its slice and, one time in four, replaces another endpoint by
// a new address, as a rolling update does. It counts the events a reader
// must return for the stream in Events. It never holds more than one
// update's bytes.
type watchGen struct {
	Slices, PerSlice, Updates int

	rng    *rand.Rand
	eps    [][]genEndpoint // by slice
	next   uint32          // the next new address
	update int             // updates written
	buf    []byte          // the rest of the current update
	out    []byte          // the buffer buf is in
	Events int             // events the updates written so far make
	start  time.Time
}

type genEndpoint struct {
	addr  string
	ready bool
	zone  string
	json  []byte // rendered, or nil
}

func newWatchGen(slices, perSlice, updates int, seed uint64) *watchGen {
	return &watchGen{
		Slices: slices, PerSlice: perSlice, Updates: updates,
		rng:   rand.New(rand.NewPCG(seed, 1)),
		eps:   make([][]genEndpoint, slices),
		start: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
	}
}

func (g *watchGen) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.buf) == 0 {
			if g.update == g.Updates {
				break
			}
			g.render()
		}
		c := copy(p[n:], g.buf)
		g.buf = g.buf[c:]
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (g *watchGen) newAddr() string {
	a := g.next
	g.next++
	return fmt.Sprintf("10.%d.%d.%d", 1+a>>16, a>>8&0xff, a&0xff)
}

// render makes the next update and renders it into g.buf.
func (g *watchGen) render() {
	i := g.update % g.Slices
	typ := "MODIFIED"
	eps := g.eps[i]
	if eps == nil {
		typ = "ADDED"
		for range g.PerSlice {
			eps = append(eps, genEndpoint{addr: g.newAddr(), ready: g.rng.IntN(8) != 0, zone: "zone-" + string(rune('a'+g.rng.IntN(3)))})
			g.Events++
			if eps[len(eps)-1].ready {
				g.Events++
			}
		}
		g.eps[i] = eps
	} else {
		j := g.rng.IntN(len(eps))
		eps[j].ready = !eps[j].ready
		eps[j].json = nil
		g.Events++
		if g.rng.IntN(4) == 0 {
			k := g.rng.IntN(len(eps))
			if k != j {
				g.Events += 2 // remove and add
				if eps[k].ready {
					g.Events++ // ready
				}
				eps[k].addr = g.newAddr()
				eps[k].json = nil
			}
		}
	}
	g.update++
	at := g.start.Add(time.Duration(g.update) * 100 * time.Millisecond)
	b := g.out[:0]
	b = fmt.Appendf(b, `{
    "type": %q,
    "object": {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": "web-%05d",
            "generateName": "web-",
            "namespace": "shop",
            "resourceVersion": "%d",
            "labels": {
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                "kubernetes.io/service-name": "web"
            },
            "annotations": {
                "endpoints.kubernetes.io/last-change-trigger-time": %q
            }
        },
        "addressType": "IPv4",
        "endpoints": [
`, typ, i, 1000+g.update, at.Format(time.RFC3339Nano))
	for j := range eps {
		if eps[j].json == nil {
			eps[j].json = eps[j].render()
		}
		b = append(b, eps[j].json...)
		if j < len(eps)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	b = append(b, `        ],
        "ports": [
            {
                "name": "http",
                "protocol": "TCP",
                "port": 8080
            }
        ]
    }
}
`...)
	g.out, g.buf = b, b
}

// render renders the endpoint as an element of a watch event's object's
// endpoints, without the comma.
func (e genEndpoint) render() []byte {
	b := []byte(`            {
                "addresses": [
                    "`)
	b = append(b, e.addr...)
	b = append(b, `"
                ],
                "conditions": {
                    "ready": `...)
	b = strconv.AppendBool(b, e.ready)
	b = append(b, `,
                    "serving": `...)
	b = strconv.AppendBool(b, e.ready)
	b = append(b, `,
                    "terminating": false
                },
                "zone": "`...)
	b = append(b, e.zone...)
	return append(b, "\"\n            }"...)
}

// csvGen writes, lazily as it is read, a CSV trace of Lines lines over
// Endpoints endpoints: rounds of an add, a ready, an unready and a remove
// of each endpoint in turn, a millisecond apart. Every line is one event.
type csvGen struct {
	Lines, Endpoints int

	line int
	buf  []byte // the rest of the current line
	out  []byte // the buffer buf is in
}

func (g *csvGen) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.buf) == 0 {
			if g.line == g.Lines {
				break
			}
			k := g.line % g.Endpoints
			kind := Kind(1 + g.line/g.Endpoints%4)
			b := appendSeconds(g.out[:0], time.Duration(g.line)*time.Millisecond)
			b = append(append(append(b, ','), kind.String()...), ",10."...)
			b = strconv.AppendInt(append(strconv.AppendInt(append(strconv.AppendInt(b, int64(1+k>>16), 10), '.'), int64(k>>8&0xff), 10), '.'), int64(k&0xff), 10)
			b = append(append(b, ":8080,,zone-"...), byte('a'+k%3), '\n')
			g.out, g.buf = b, b
			g.line++
		}
		c := copy(p[n:], g.buf)
		g.buf = g.buf[c:]
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
