package sim

import "time"

type eventKind uint8

const (
	evArrival     eventKind = iota // the next request (or session) arrives
	evSessionNext                  // a session sends its next request; a = session
	evComplete                     // a request's service ends; a = request
	evProxyUpdate                  // proxy a applies endpoint version b
	evPod                          // a pod's lifecycle step; a = pod, b = step, c = epoch
	evController                   // a churn action or a controller step; a = action
	evTrace                        // the trace's next instant
	evWindow                       // close a metrics window
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

// queue is a binary min-heap of events by (at, seq), typed so that
// scheduling allocates nothing once the slice has grown.
type queue struct {
	items []event
	seq   uint64
}

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(at time.Duration, kind eventKind, a, b, c int32) {
	q.seq++
	q.items = append(q.items, event{at: at, seq: q.seq, kind: kind, a: a, b: b, c: c})
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.items[i].before(&q.items[p]) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

func (q *queue) pop() event {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items = q.items[:last]
	i, n := 0, last
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.items[r].before(&q.items[l]) {
			m = r
		}
		if !q.items[m].before(&q.items[i]) {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}
