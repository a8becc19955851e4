package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zoneScenario is 12 pods and 3 proxies over 3 zones, with a 5ms
// cross-zone round trip.
func zoneScenario(alg string) Scenario {
	sc := queueing(12, 20, 10*time.Millisecond, 20*time.Second, alg)
	sc.Deployment.Zones = []string{"a", "b", "c"}
	sc.Proxies.Replicas = 3
	sc.Proxies.Zones = []string{"a", "b", "c"}
	sc.Proxies.CrossZoneLatency = Duration(5 * time.Millisecond)
	return sc
}

// Without zone awareness, two requests in three leave their zone, and
// each of those pays the cross-zone round trip.
func TestCrossZoneShareAndLatency(t *testing.T) {
	sc := zoneScenario("round-robin")
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	require.NotNil(t, r.CrossZone)
	assert.InDelta(t, 2.0/3, *r.CrossZone, 0.02)
	plain := zoneScenario("round-robin")
	plain.Proxies.CrossZoneLatency = 0
	p, err := Run(plain, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Equal(t, p.Requests, r.Requests, "the same workload")
	assert.Greater(t, r.Latency.P99.Std(), p.Latency.P99.Std())
	assert.InDelta(t, float64(p.Latency.Max.Std()+5*time.Millisecond), float64(r.Latency.Max.Std()), float64(100*time.Microsecond), "the slowest request was a cross-zone one (within the histogram's resolution)")

	plain.Proxies.Zones = nil
	p, err = Run(plain, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Nil(t, p.CrossZone, "proxies without zones: no figure")
}

func TestZoneFieldErrors(t *testing.T) {
	for _, y := range []string{
		"proxies: {zones: [a, '']}",
		"proxies: {crossZoneLatency: 11s}",
	} {
		_, err := ParseScenario("z.yaml", []byte("duration: 1s\ndeployment: {replicas: 1}\nworkload: {rate: 1}\n"+y+"\n"))
		assert.ErrorIs(t, err, ErrScenario, y)
	}
}
