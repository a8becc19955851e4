package leastconn

import (
	"math/bits"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// Loads are compared per unit of weight without division: a is less
// loaded than b when a.load×b.weight < b.load×a.weight. A load is
// Endpoint.Load: the requests in flight plus the failure penalty, so an
// endpoint that fails fast does not look idle. Loads are compared exactly
// in int64 (a load < 2^24 and a weight < 2^32, so the products stay below
// 2^56); peak-EWMA costs in float64.

// weight returns e's weight as an int64, at least 1.
func weight(e *balancer.Endpoint) int64 { return int64(max(e.Weight, 1)) }

// costModel is the peak-EWMA cost of endpoints, constant after Build.
type costModel struct {
	defLatency float64 // nanoseconds, for an endpoint with no sample
}

// now returns the time a peak-EWMA pick measures latency at: req.Now, or
// the clock, read once per pick.
func now(req balancer.Request) int64 {
	if req.Now == 0 {
		return time.Now().UnixNano()
	}
	return req.Now
}

// cost returns e's peak-EWMA latency in nanoseconds at now (defLatency
// without a sample) times its load (in flight plus failure penalty) plus
// one.
func (m costModel) cost(e *balancer.Endpoint, now int64) float64 {
	lat := float64(e.Latency(now))
	if lat <= 0 {
		lat = m.defLatency
	}
	return lat * float64(max(e.Load(), 0)+1)
}

// wyrand is a small, fast generator (Wang Yi's wyrand) that a pick seeds
// from the configured source once and then draws from locally, so that
// several candidates or many ties cost one draw from the source. It lives
// on the stack of one pick and is never shared.
type wyrand uint64

func (r *wyrand) next() uint64 {
	*r += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(uint64(*r), uint64(*r^0xe7037ed1a0b428db))
	return hi ^ lo
}

// n returns a random number in [0, n) (Lemire's multiply-shift).
func (r *wyrand) n(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}
