package sim

import "time"

type podState uint8

const (
	podStarting    podState = iota // running, readiness probe not passed yet
	podReady                       // serving and in the endpoint set
	podTerminating                 // deleted: out of the endpoint set, serving until preStop ends
	podDraining                    // deleted, past preStop: refuses new requests, finishes the rest
	podCrashed                     // crashed: refuses everything until it restarts
	podGone                        // exited or killed; never comes back
)

// pod steps, carried in event.b.
const (
	stepReady    int32 = iota // the readiness probe passes
	stepStopTake              // preStop is over: stop taking new requests
	stepKill                  // the grace period is over
	stepCrash                 // the container crashes
	stepDetect                // the readiness probe notices the crash
	stepRestart               // the container restarts
)

// pod is one simulated pod: a FIFO queue in front of a number of workers.
type pod struct {
	id     string
	zone   string
	weight uint32
	gen    int // template generation (a rollout makes a new one)
	state  podState
	epoch  int32 // bumped on every state change, to drop stale events

	speed    float64 // 1 = nominal
	service  int     // index of the service-time sampler
	readyAt  time.Duration
	inSet    bool // in the published endpoint set (ready as the EndpointSlice says)
	crashAt  time.Duration
	createAt time.Duration

	workers int
	busy    int
	queue   []int32 // request indices waiting, FIFO from head
	head    int
	held    int // requests held outside the workers and the queue: failing or hung (fault.go)

	serial      int       // creation order: what iterating pods in a fixed order uses, as slots are reused
	fault       faultKind // what the pod does with a new request: serve it, fail it, hang it
	failLatency time.Duration
	faultTok    int32         // bumped when a fault begins or ends, to drop stale recoveries
	faultAt     time.Duration // when the current fault began

	// metrics
	loadArea    float64       // requests held x ns, since the window began
	loadAt      time.Duration // when loadArea was last brought up to date
	winRequests int64         // requests received in the current window
	requests    int64         // requests received in the whole run
	readyFor    time.Duration // total time in the endpoint set
	setSince    time.Duration // when it last entered the endpoint set
}

func (p *pod) queued() int { return len(p.queue) - p.head }

// touch brings the pod's time integral of requests held up to now; call
// it before the number held changes.
func (p *pod) touch(now time.Duration) {
	p.loadArea += float64(p.load()) * float64(now-p.loadAt)
	p.loadAt = now
}

// capacity is the requests a second the pod serves at its nominal speed.
func (p *pod) capacity(mean float64) float64 {
	return float64(p.workers) * p.speed / (mean / float64(time.Second))
}

func (p *pod) load() int { return p.busy + p.queued() + p.held }

func (p *pod) enqueue(r int32) {
	if p.head > 64 && p.head*2 > len(p.queue) {
		n := copy(p.queue, p.queue[p.head:])
		p.queue = p.queue[:n]
		p.head = 0
	}
	p.queue = append(p.queue, r)
}

func (p *pod) dequeue() int32 {
	r := p.queue[p.head]
	p.head++
	if p.head == len(p.queue) {
		p.queue = p.queue[:0]
		p.head = 0
	}
	return r
}

// accepting reports whether the pod takes a new request.
func (p *pod) accepting() bool {
	return p.state == podStarting || p.state == podReady || p.state == podTerminating
}
