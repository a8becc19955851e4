package health

import (
	"math"

	"github.com/lbkit/lbkit/balancer"
)

// outcome is one endpoint's requests in an evaluation interval.
type outcome struct {
	e              *balancer.Endpoint
	total, failed  uint64
	successPercent float64
}

// evaluate runs the interval's outlier detection at now: it takes one off
// the ejection count of every endpoint back for an interval at least, then ejects
// success-rate and failure-percentage outliers. It reports whether it
// ejected any.
func (m *Monitor) evaluate(now int64) bool {
	o := m.cfg.Outlier
	var sr, fp []outcome
	for _, e := range m.set {
		s := m.state[e.ID]
		c, f := e.Completed(), e.Failures()
		total, failed := (c-s.completed)&(1<<40-1), f-s.failures
		s.completed, s.failures = c, f
		h := e.Health()
		if h.Ejected {
			continue
		}
		// Each whole interval spent back in takes one off the ejection
		// count, as Envoy's ejection time backoff does.
		if h.Ejections > 0 && now-s.back >= int64(o.Interval) {
			e.Forgive()
		}
		failed = min(failed, total)
		x := outcome{e: e, total: total, failed: failed}
		if total > 0 {
			x.successPercent = 100 * float64(total-failed) / float64(total)
		}
		if total >= uint64(o.SuccessRateRequestVolume) {
			sr = append(sr, x)
		}
		if total >= uint64(o.FailurePercentageRequestVolume) {
			fp = append(fp, x)
		}
	}
	ejected := false
	if len(sr) >= o.SuccessRateMinimumHosts {
		if limit, ok := successRateLimit(sr, o.SuccessRateStdevFactor); ok {
			for _, x := range sr {
				if x.successPercent < limit && m.eject(x.e, SuccessRate, o.EnforcingSuccessRate, now) {
					ejected = true
				}
			}
		}
	}
	if len(fp) >= o.FailurePercentageMinimumHosts {
		for _, x := range fp {
			if 100-x.successPercent >= o.FailurePercentageThreshold &&
				!x.e.Health().Ejected && m.eject(x.e, FailurePercentage, o.EnforcingFailurePercentage, now) {
				ejected = true
			}
		}
	}
	return ejected
}

// successRateLimit returns the success percentage below which an endpoint
// is an outlier: the mean less factor population standard deviations, as
// Envoy computes it.
func successRateLimit(xs []outcome, factor float64) (float64, bool) {
	var sum float64
	for _, x := range xs {
		sum += x.successPercent
	}
	mean := sum / float64(len(xs))
	var v float64
	for _, x := range xs {
		d := x.successPercent - mean
		v += d * d
	}
	stdev := math.Sqrt(v / float64(len(xs)))
	return mean - factor*stdev, true
}
