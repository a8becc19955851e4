package sim

import (
	"errors"
	"strings"
	"time"

	"github.com/lbkit/lbkit/health"
)

// The health features of a proxy, in a scenario's words (Envoy's). A field
// left out means the health package's default; a field given must be in
// range, so a pointer tells the two apart.

// HealthCheck is a proxy's active health checking: each proxy probes each
// pod every interval, and a probe fails when the pod refuses it, answers
// an error, or does not answer within timeout.
type HealthCheck struct {
	// Interval between probes of a pod. Left out: 2s.
	Interval *Duration `yaml:"interval" json:"interval,omitempty"`
	// Timeout of a probe. Left out: 1s, or interval if shorter.
	Timeout *Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Jitter added to each interval, uniformly random. Left out: none.
	Jitter *Duration `yaml:"jitter" json:"jitter,omitempty"`
	// HealthyThreshold passes in a row bring a pod back ("rise"). Left
	// out: 2.
	HealthyThreshold *int `yaml:"healthyThreshold" json:"healthyThreshold,omitempty"`
	// UnhealthyThreshold failures in a row take a pod out ("fall"). Left
	// out: 3.
	UnhealthyThreshold *int `yaml:"unhealthyThreshold" json:"unhealthyThreshold,omitempty"`
}

// OutlierDetection is Envoy's passive outlier detection, with Envoy's
// field names and defaults (see health.OutlierDetection); an empty block
// means every default. Percentages are 0 to 100; an enforcing percentage
// of 0 detects without ejecting, as in Envoy.
type OutlierDetection struct {
	Consecutive5xx                     *int      `yaml:"consecutive5xx" json:"consecutive5xx,omitempty"`
	ConsecutiveGatewayFailure          *int      `yaml:"consecutiveGatewayFailure" json:"consecutiveGatewayFailure,omitempty"`
	Interval                           *Duration `yaml:"interval" json:"interval,omitempty"`
	BaseEjectionTime                   *Duration `yaml:"baseEjectionTime" json:"baseEjectionTime,omitempty"`
	MaxEjectionTime                    *Duration `yaml:"maxEjectionTime" json:"maxEjectionTime,omitempty"`
	MaxEjectionPercent                 *float64  `yaml:"maxEjectionPercent" json:"maxEjectionPercent,omitempty"`
	SuccessRateMinimumHosts            *int      `yaml:"successRateMinimumHosts" json:"successRateMinimumHosts,omitempty"`
	SuccessRateRequestVolume           *int      `yaml:"successRateRequestVolume" json:"successRateRequestVolume,omitempty"`
	SuccessRateStdevFactor             *float64  `yaml:"successRateStdevFactor" json:"successRateStdevFactor,omitempty"`
	FailurePercentageThreshold         *float64  `yaml:"failurePercentageThreshold" json:"failurePercentageThreshold,omitempty"`
	FailurePercentageMinimumHosts      *int      `yaml:"failurePercentageMinimumHosts" json:"failurePercentageMinimumHosts,omitempty"`
	FailurePercentageRequestVolume     *int      `yaml:"failurePercentageRequestVolume" json:"failurePercentageRequestVolume,omitempty"`
	EnforcingConsecutive5xx            *float64  `yaml:"enforcingConsecutive5xx" json:"enforcingConsecutive5xx,omitempty"`
	EnforcingConsecutiveGatewayFailure *float64  `yaml:"enforcingConsecutiveGatewayFailure" json:"enforcingConsecutiveGatewayFailure,omitempty"`
	EnforcingSuccessRate               *float64  `yaml:"enforcingSuccessRate" json:"enforcingSuccessRate,omitempty"`
	EnforcingFailurePercentage         *float64  `yaml:"enforcingFailurePercentage" json:"enforcingFailurePercentage,omitempty"`
	// KeepEjectedOnActivePass keeps an ejected pod out until its ejection
	// ends even when it passes an active check. Left out: false, Envoy's
	// successful_active_health_check_uneject_host.
	KeepEjectedOnActivePass bool `yaml:"keepEjectedOnActivePass" json:"keepEjectedOnActivePass,omitempty"`
}

// SlowStart ramps up the share of a pod that joins or turns healthy again
// (Envoy's slow_start_config).
type SlowStart struct {
	// Window is how long the ramp lasts. Required.
	Window Duration `yaml:"window" json:"window"`
	// Aggression shapes the ramp; 1 is linear. Left out: 1.
	Aggression *float64 `yaml:"aggression" json:"aggression,omitempty"`
	// MinWeightPercent is the least share of its weight a pod gets. Left
	// out: 10.
	MinWeightPercent *float64 `yaml:"minWeightPercent" json:"minWeightPercent,omitempty"`
}

// healthConfig returns the health.Config the proxies run, or nil when
// they run no health feature, or a field error.
func (p Proxies) healthConfig() (*health.Config, error) {
	var cfg health.Config
	any := false
	if p.PanicThreshold != nil {
		any = true
		switch v := *p.PanicThreshold; {
		case bad(v) || v < 0 || v > 100:
			return nil, fieldErr("proxies.panicThreshold", "%v is not a percentage from 0 (off) to 100", v)
		case v == 0:
			cfg.PanicThreshold = -1
		default:
			cfg.PanicThreshold = v
		}
	}
	if h := p.HealthCheck; h != nil {
		any = true
		a := health.ActiveConfig{}
		for _, f := range []struct {
			name string
			v    *Duration
			dst  *time.Duration
		}{{"interval", h.Interval, &a.Interval}, {"timeout", h.Timeout, &a.Timeout}, {"jitter", h.Jitter, &a.Jitter}} {
			if f.v == nil {
				continue
			}
			if *f.v <= 0 && f.name != "jitter" {
				return nil, fieldErr("proxies.healthCheck."+f.name, "must be above 0")
			}
			*f.dst = f.v.Std()
		}
		for _, f := range []struct {
			name string
			v    *int
			dst  *int
		}{{"healthyThreshold", h.HealthyThreshold, &a.HealthyThreshold}, {"unhealthyThreshold", h.UnhealthyThreshold, &a.UnhealthyThreshold}} {
			if f.v == nil {
				continue
			}
			if *f.v < 1 {
				return nil, fieldErr("proxies.healthCheck."+f.name, "%d: must be at least 1", *f.v)
			}
			*f.dst = *f.v
		}
		if err := a.Validate(); err != nil {
			return nil, fieldErr("proxies.healthCheck", "%s", healthMsg(err))
		}
		cfg.Active = &a
	}
	if o := p.OutlierDetection; o != nil {
		any = true
		od, err := o.config()
		if err != nil {
			return nil, err
		}
		cfg.Outlier = &od
	}
	if s := p.SlowStart; s != nil {
		any = true
		if s.Window <= 0 {
			return nil, fieldErr("proxies.slowStart.window", "required, above 0")
		}
		ss := health.SlowStart{Window: s.Window.Std()}
		for _, f := range []struct {
			name string
			v    *float64
			dst  *float64
		}{{"aggression", s.Aggression, &ss.Aggression}, {"minWeightPercent", s.MinWeightPercent, &ss.MinWeightPercent}} {
			if f.v == nil {
				continue
			}
			if bad(*f.v) || *f.v <= 0 {
				return nil, fieldErr("proxies.slowStart."+f.name, "%v: must be above 0", *f.v)
			}
			*f.dst = *f.v
		}
		if err := ss.Validate(); err != nil {
			return nil, fieldErr("proxies.slowStart", "%s", healthMsg(err))
		}
		cfg.SlowStart = &ss
	}
	if !any {
		return nil, nil
	}
	return &cfg, nil
}

// config converts the scenario's block to the health package's, with a
// field error for a value out of range.
func (o OutlierDetection) config() (health.OutlierDetection, error) {
	var od health.OutlierDetection
	path := "proxies.outlierDetection."
	counts := []struct {
		name string
		v    *int
		dst  *int
	}{
		{"consecutive5xx", o.Consecutive5xx, &od.Consecutive5xx},
		{"consecutiveGatewayFailure", o.ConsecutiveGatewayFailure, &od.ConsecutiveGatewayFailure},
		{"successRateMinimumHosts", o.SuccessRateMinimumHosts, &od.SuccessRateMinimumHosts},
		{"successRateRequestVolume", o.SuccessRateRequestVolume, &od.SuccessRateRequestVolume},
		{"failurePercentageMinimumHosts", o.FailurePercentageMinimumHosts, &od.FailurePercentageMinimumHosts},
		{"failurePercentageRequestVolume", o.FailurePercentageRequestVolume, &od.FailurePercentageRequestVolume},
	}
	for _, f := range counts {
		if f.v == nil {
			continue
		}
		if *f.v < 1 || *f.v > 1<<30 {
			return od, fieldErr(path+f.name, "%d: must be from 1 to %d", *f.v, 1<<30)
		}
		*f.dst = *f.v
	}
	durations := []struct {
		name string
		v    *Duration
		dst  *time.Duration
	}{
		{"interval", o.Interval, &od.Interval},
		{"baseEjectionTime", o.BaseEjectionTime, &od.BaseEjectionTime},
		{"maxEjectionTime", o.MaxEjectionTime, &od.MaxEjectionTime},
	}
	for _, f := range durations {
		if f.v == nil {
			continue
		}
		if *f.v <= 0 || f.v.Std() > 24*time.Hour {
			return od, fieldErr(path+f.name, "%v: must be above 0 and at most 24h", *f.v)
		}
		*f.dst = f.v.Std()
	}
	percents := []struct {
		name  string
		v     *float64
		dst   *float64
		zero  float64 // what 0 means in the health package's terms
		above bool    // must be above 0
	}{
		{"maxEjectionPercent", o.MaxEjectionPercent, &od.MaxEjectionPercent, 0, true},
		{"failurePercentageThreshold", o.FailurePercentageThreshold, &od.FailurePercentageThreshold, 0, true},
		{"enforcingConsecutive5xx", o.EnforcingConsecutive5xx, &od.EnforcingConsecutive5xx, -1, false},
		{"enforcingConsecutiveGatewayFailure", o.EnforcingConsecutiveGatewayFailure, &od.EnforcingConsecutiveGatewayFailure, -1, false},
		{"enforcingSuccessRate", o.EnforcingSuccessRate, &od.EnforcingSuccessRate, -1, false},
		{"enforcingFailurePercentage", o.EnforcingFailurePercentage, &od.EnforcingFailurePercentage, -1, false},
	}
	for _, f := range percents {
		if f.v == nil {
			continue
		}
		v := *f.v
		if bad(v) || v < 0 || v > 100 || (f.above && v == 0) {
			lo := "0"
			if f.above {
				lo = "above 0"
			}
			return od, fieldErr(path+f.name, "%v: must be a percentage from %s to 100", v, lo)
		}
		*f.dst = v
		if v == 0 {
			*f.dst = f.zero
		}
	}
	if v := o.SuccessRateStdevFactor; v != nil {
		if bad(*v) || *v <= 0 || *v > 1000 {
			return od, fieldErr(path+"successRateStdevFactor", "%v: must be above 0 and at most 1000", *v)
		}
		od.SuccessRateStdevFactor = *v
	}
	od.KeepEjectedOnActivePass = o.KeepEjectedOnActivePass
	if err := od.Validate(); err != nil {
		return od, fieldErr("proxies.outlierDetection", "%s", healthMsg(err))
	}
	return od, nil
}

// healthMsg is a health package error without its package prefix, for a
// field error.
func healthMsg(err error) string {
	msg := err.Error()
	if errors.Is(err, health.ErrConfig) {
		msg = strings.TrimPrefix(msg, health.ErrConfig.Error()+": ")
	}
	return msg
}
