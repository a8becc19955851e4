package health

import (
	"fmt"
	"math"
	"time"
)

// Defaults, Envoy's unless said otherwise.
const (
	// DefaultPanicThreshold is Envoy's healthy panic threshold, in percent.
	DefaultPanicThreshold = 50.0
	// DefaultSlowStartAggression and DefaultMinWeightPercent are Envoy's
	// slow-start defaults.
	DefaultSlowStartAggression = 1.0
	DefaultMinWeightPercent    = 10.0
	// maxDuration bounds every configured duration: a day is longer than
	// any sane interval or ejection, and far from overflowing int64
	// nanoseconds when multiplied.
	maxDuration = 24 * time.Hour
)

// Config says which health features a Monitor runs for its Balancer. The
// zero Config runs the panic threshold alone, which does nothing until
// something marks endpoints unhealthy.
type Config struct {
	// Active runs active health checks. Nil means none.
	Active *ActiveConfig
	// Outlier runs passive outlier detection on the outcomes Result.Done
	// reports. Nil means none.
	Outlier *OutlierDetection
	// PanicThreshold is Envoy's healthy panic threshold, in percent of the
	// endpoints: when fewer than this share are healthy, the Balancer picks
	// among all of them, healthy or not, rather than crush the few that
	// are left. Zero means 50 (DefaultPanicThreshold); a negative value
	// disables it (Envoy's 0), and above 100 is an error.
	PanicThreshold float64
	// SlowStart ramps up the weight of an endpoint that joins or turns
	// healthy again. Nil means none.
	SlowStart *SlowStart
	// Seed seeds the Monitor's random draws: the enforcement of ejections
	// and the jitter and spread of active checks. Zero is a seed like any
	// other.
	Seed uint64
	// OnEvent, when set, is called for every health transition, on the
	// goroutine that caused it (a Done, a check, the Monitor's timer),
	// after the Monitor has let go of its lock; it may call the Monitor's
	// methods. Nil means none.
	OnEvent func(Event)
}

// OutlierDetection is Envoy's passive outlier detection, fed by the
// outcomes Result.Done reports (see balancer.DoneInfo.Failure). Every
// zero field means Envoy's default, so the zero OutlierDetection is
// Envoy's; negative values are errors except where a field says so.
//
// Four detectors may eject an endpoint: a run of Consecutive5xx failures
// of any kind, or of ConsecutiveGatewayFailure gateway failures (both at
// once, from Done); and, every Interval, success-rate and
// failure-percentage outliers among the endpoints that saw enough
// requests in the interval. An ejection lasts BaseEjectionTime times the
// number of times the endpoint was ejected, at most MaxEjectionTime; each
// interval an endpoint spends unejected takes one off that number. At
// most MaxEjectionPercent of the endpoints are ejected at once, but one
// always may be. An ejected endpoint that passes an active check returns
// at once, as in Envoy, unless KeepEjectedOnActivePass.
type OutlierDetection struct {
	// Consecutive5xx is the run of failures (upstream and gateway) that
	// ejects. Zero means 5.
	Consecutive5xx int
	// ConsecutiveGatewayFailure is the run of gateway failures (refused,
	// reset, timed out) that ejects. Zero means 5.
	ConsecutiveGatewayFailure int
	// Interval is the time between success-rate and failure-percentage
	// evaluations. Zero means 10 s.
	Interval time.Duration
	// BaseEjectionTime is the length of a first ejection. Zero means 30 s.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection. Zero means 300 s; it is raised to
	// BaseEjectionTime if below it, as in Envoy.
	MaxEjectionTime time.Duration
	// MaxEjectionPercent bounds the share of endpoints ejected at once.
	// Zero means 10; above 100 is an error.
	MaxEjectionPercent float64
	// SuccessRateMinimumHosts is how many endpoints must each see
	// SuccessRateRequestVolume requests in an interval for success-rate
	// ejection to run. Zero means 5.
	SuccessRateMinimumHosts int
	// SuccessRateRequestVolume is the requests an endpoint must see in an
	// interval to count in success-rate ejection. Zero means 100.
	SuccessRateRequestVolume int
	// SuccessRateStdevFactor ejects an endpoint whose success rate is below
	// the mean minus this many standard deviations. Zero means 1.9
	// (Envoy's success_rate_stdev_factor of 1900, divided by 1000).
	SuccessRateStdevFactor float64
	// FailurePercentageThreshold ejects an endpoint whose failures are at
	// least this percent of its requests in an interval. Zero means 85.
	FailurePercentageThreshold float64
	// FailurePercentageMinimumHosts is how many endpoints must each see
	// FailurePercentageRequestVolume requests for failure-percentage
	// ejection to run. Zero means 5.
	FailurePercentageMinimumHosts int
	// FailurePercentageRequestVolume is the requests an endpoint must see
	// in an interval to count in failure-percentage ejection. Zero means
	// 50.
	FailurePercentageRequestVolume int
	// KeepEjectedOnActivePass keeps an ejected endpoint out until its
	// ejection ends even when it passes an active check. False (Envoy's
	// successful_active_health_check_uneject_host) lets a pass end the
	// ejection at once; set it when the active check is shallower than
	// the traffic (a TCP connect, a /healthz that does not touch the
	// database).
	KeepEjectedOnActivePass bool
	// The Enforcing fields are the percent chance that a detector that
	// finds an outlier ejects it (Envoy's enforcing_*). Zero means Envoy's
	// default: 100 for Consecutive5xx and SuccessRate, 0 for
	// ConsecutiveGatewayFailure and FailurePercentage (those two detect but
	// do not eject unless asked; a gateway failure still counts towards
	// Consecutive5xx). A negative value means 0: detect, never eject.
	EnforcingConsecutive5xx            float64
	EnforcingConsecutiveGatewayFailure float64
	EnforcingSuccessRate               float64
	EnforcingFailurePercentage         float64
}

// SlowStart is Envoy's slow start: an endpoint that joins the set or
// turns healthy again serves with its weight times
// max(MinWeightPercent/100, (t/Window)^(1/Aggression)), t the time since,
// until Window has passed, for round robin, random and least request.
// Ring hash and Maglev keep their weights, since changing one would move
// keys among the other endpoints too: an endpoint ramping up there
// receives the share max(MinWeightPercent/100, (t/Window)^(1/Aggression))
// of the keys that are its own in the final table, and every other key
// stays where it would be without it (see Monitor.BuildPicker).
type SlowStart struct {
	// Window is how long the ramp lasts. Required: zero is an error.
	Window time.Duration
	// Aggression shapes the ramp: 1 is linear, above 1 front-loads it.
	// Zero means 1.
	Aggression float64
	// MinWeightPercent is the least share of its weight an endpoint gets
	// during the ramp. Zero means 10.
	MinWeightPercent float64
}

// withDefaults returns c with its defaults applied, or an error naming
// the first field out of range.
func (c Config) withDefaults() (Config, error) {
	switch p := c.PanicThreshold; {
	case math.IsNaN(p) || p > 100:
		return c, fmt.Errorf("%w: PanicThreshold is %v, want a percentage up to 100 (negative disables)", ErrConfig, p)
	case p == 0:
		c.PanicThreshold = DefaultPanicThreshold
	case p < 0:
		c.PanicThreshold = 0
	}
	if c.Outlier != nil {
		o, err := c.Outlier.withDefaults()
		if err != nil {
			return c, err
		}
		c.Outlier = &o
	}
	if c.SlowStart != nil {
		s, err := c.SlowStart.withDefaults()
		if err != nil {
			return c, err
		}
		c.SlowStart = &s
	}
	if c.Active != nil {
		if err := c.Active.Validate(); err != nil {
			return c, err
		}
		a := c.Active.WithDefaults()
		c.Active = &a
	}
	return c, nil
}

// Validate reports whether o is usable: an error wrapping ErrConfig names
// the first field out of range.
func (o OutlierDetection) Validate() error {
	_, err := o.withDefaults()
	return err
}

func (o OutlierDetection) withDefaults() (OutlierDetection, error) {
	counts := []struct {
		name string
		v    *int
		def  int
	}{
		{"Consecutive5xx", &o.Consecutive5xx, 5},
		{"ConsecutiveGatewayFailure", &o.ConsecutiveGatewayFailure, 5},
		{"SuccessRateMinimumHosts", &o.SuccessRateMinimumHosts, 5},
		{"SuccessRateRequestVolume", &o.SuccessRateRequestVolume, 100},
		{"FailurePercentageMinimumHosts", &o.FailurePercentageMinimumHosts, 5},
		{"FailurePercentageRequestVolume", &o.FailurePercentageRequestVolume, 50},
	}
	for _, f := range counts {
		if err := defInt(f.name, f.v, f.def); err != nil {
			return o, err
		}
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Interval", &o.Interval, 10 * time.Second},
		{"BaseEjectionTime", &o.BaseEjectionTime, 30 * time.Second},
		{"MaxEjectionTime", &o.MaxEjectionTime, 300 * time.Second},
	}
	for _, f := range durations {
		if err := defDuration(f.name, f.v, f.def); err != nil {
			return o, err
		}
	}
	o.MaxEjectionTime = max(o.MaxEjectionTime, o.BaseEjectionTime)
	percents := []struct {
		name string
		v    *float64
		def  float64
		off  bool // a negative value means 0
	}{
		{"MaxEjectionPercent", &o.MaxEjectionPercent, 10, false},
		{"FailurePercentageThreshold", &o.FailurePercentageThreshold, 85, false},
		{"EnforcingConsecutive5xx", &o.EnforcingConsecutive5xx, 100, true},
		{"EnforcingConsecutiveGatewayFailure", &o.EnforcingConsecutiveGatewayFailure, 0, true},
		{"EnforcingSuccessRate", &o.EnforcingSuccessRate, 100, true},
		{"EnforcingFailurePercentage", &o.EnforcingFailurePercentage, 0, true},
	}
	for _, f := range percents {
		v := *f.v
		switch {
		case math.IsNaN(v) || v > 100 || v < 0 && !f.off:
			return o, fmt.Errorf("%w: %s is %v, want a percentage from 0 to 100", ErrConfig, f.name, v)
		case v == 0:
			*f.v = f.def
		case v < 0:
			*f.v = 0
		}
	}
	switch f := o.SuccessRateStdevFactor; {
	case math.IsNaN(f) || f < 0 || f > 1000:
		return o, fmt.Errorf("%w: SuccessRateStdevFactor is %v, want 0 (1.9) to 1000", ErrConfig, f)
	case f == 0:
		o.SuccessRateStdevFactor = 1.9
	}
	return o, nil
}

// Validate reports whether s is usable.
func (s SlowStart) Validate() error {
	_, err := s.withDefaults()
	return err
}

func (s SlowStart) withDefaults() (SlowStart, error) {
	if s.Window <= 0 || s.Window > maxDuration {
		return s, fmt.Errorf("%w: SlowStart.Window is %v, want above 0 and at most %v", ErrConfig, s.Window, maxDuration)
	}
	switch a := s.Aggression; {
	case math.IsNaN(a) || a < 0 || a > 1000:
		return s, fmt.Errorf("%w: SlowStart.Aggression is %v, want 0 (1) to 1000", ErrConfig, a)
	case a == 0:
		s.Aggression = DefaultSlowStartAggression
	}
	switch p := s.MinWeightPercent; {
	case math.IsNaN(p) || p < 0 || p > 100:
		return s, fmt.Errorf("%w: SlowStart.MinWeightPercent is %v, want 0 (10) to 100", ErrConfig, p)
	case p == 0:
		s.MinWeightPercent = DefaultMinWeightPercent
	}
	return s, nil
}

func defInt(name string, v *int, def int) error {
	switch {
	case *v < 0 || *v > 1<<30:
		return fmt.Errorf("%w: %s is %d, want 0 (%d) to %d", ErrConfig, name, *v, def, 1<<30)
	case *v == 0:
		*v = def
	}
	return nil
}

func defDuration(name string, v *time.Duration, def time.Duration) error {
	switch {
	case *v < 0 || *v > maxDuration:
		return fmt.Errorf("%w: %s is %v, want 0 (%v) to %v", ErrConfig, name, *v, def, maxDuration)
	case *v == 0:
		*v = def
	}
	return nil
}
