package sim

import "time"

type eventKind uint8

const (
	evArrival     eventKind = iota // the next request (or session) arrives
	evSessionNext                  // a session sends its next request; a = session
	evComplete                     // a request's service ends; a = request
	evProxyUpdate                  // proxy a applies endpoint version b
	evPod                          // a pod's lifecycle step; a = pod, b = step, c = epoch
	evRate                         // the workload's rate steps; a = step
	evController                   // a churn action or a controller step; a = action
	evTrace                        // the trace's next instant
	evWindow                       // close a metrics window
	evFault                        // a pod's random fault begins; a = pod, b = faults generation, c = epoch
	evFaultEnd                     // a pod's fault ends; a = pod, b = fault token
	evTimeout                      // a proxy's timeout for a request; a = request, b = its slot's generation
	evHealth                       // proxy a's health Monitor has something to do; b = generation
	evProbe                        // an active check ends; a = probe task
)

// event is one entry of the event queue. Events at the same time run in
// the order they were scheduled (seq), which keeps runs deterministic.
type event struct {
	at      time.Duration
	seq     uint64
	kind    eventKind
	a, b, c int32
}

func (e *event) before(o *event) bool {
	return e.at < o.at || (e.at == o.at && e.seq < o.seq)
}

// queue is a 4-ary min-heap of events by (at, seq), typed so that
// scheduling allocates nothing once the slice has grown. Four children a
// node make the heap half as deep as a binary one: a pop compares more
// siblings but moves fewer levels, and the siblings share a cache line.
type queue struct {
	items []event
	seq   uint64
}

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(at time.Duration, kind eventKind, a, b, c int32) {
	q.seq++
	e := event{at: at, seq: q.seq, kind: kind, a: a, b: b, c: c}
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&q.items[p]) {
			break
		}
		q.items[i] = q.items[p]
		i = p
	}
	q.items[i] = e
}

func (q *queue) pop() event {
	top := q.items[0]
	last := len(q.items) - 1
	e := q.items[last]
	q.items = q.items[:last]
	n := last
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < min(c+4, n); k++ {
			if q.items[k].before(&q.items[m]) {
				m = k
			}
		}
		if !q.items[m].before(&e) {
			break
		}
		q.items[i] = q.items[m]
		i = m
	}
	q.items[i] = e
	return top
}
