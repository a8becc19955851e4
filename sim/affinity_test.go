package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With ClientIP affinity a rolling update breaks only the sessions whose
// pod left: every session follow-up that moved had to. Without it, round
// robin moves nearly every follow-up and Maglev moves more than the
// optimum.
func TestClientIPAffinityBreaksOnlyWhatMust(t *testing.T) {
	sc := short(t, "sticky-sessions")
	sc.Algorithms = named("round-robin", "least-request", "maglev")
	rep, err := Compare(sc, Options{Runs: 1})
	require.NoError(t, err)
	got := map[string]*Result{}
	for _, r := range rep.Results {
		got[r.Algorithm] = r
	}
	for _, name := range []string{"round-robin", "least-request", "maglev"} {
		r := got[name]
		require.NotNil(t, r, name)
		require.Positive(t, r.SessionsForced, "%s: the rollout replaced every pod", name)
		assert.Equal(t, r.SessionsForced, r.SessionsBroken, "%s: a session moved only when its pod had left", name)
		assert.Greater(t, *r.Stickiness, 0.9, name)
	}
	rr, mg := got["round-robin (no affinity)"], got["maglev (no affinity)"]
	require.NotNil(t, rr)
	require.NotNil(t, mg)
	assert.Greater(t, rr.SessionsBroken, 10*rr.SessionsForced, "round robin without affinity moves nearly every follow-up")
	assert.Greater(t, float64(mg.SessionsBroken), 1.1*float64(mg.SessionsForced), "Maglev without affinity breaks more than the optimum")
	assert.Greater(t, mg.SessionsBroken, got["maglev"].SessionsBroken)
}

// A cookie is honoured by every proxy, so sessions stick though their
// requests go through any proxy; its timeout ends it.
func TestCookieAffinity(t *testing.T) {
	sc := short(t, "sticky-sessions")
	sc.Algorithms = named("round-robin")
	sc.Proxies.SessionAffinity = &SessionAffinity{Type: AffinityCookie}
	rep, err := Compare(sc, Options{Runs: 1})
	require.NoError(t, err)
	on, off := rep.Results[0], rep.Results[1]
	require.Equal(t, "round-robin (no affinity)", off.Algorithm)
	// A cookie names a pod that a proxy may not know yet (each learns of a
	// new pod after its own propagation delay): the few sessions that
	// meet such a proxy move without having to.
	assert.GreaterOrEqual(t, on.SessionsBroken, on.SessionsForced)
	assert.Less(t, float64(on.SessionsBroken), 1.05*float64(on.SessionsForced))
	assert.Greater(t, *on.Stickiness, 0.9)
	assert.Less(t, *off.Stickiness, 0.1)

	sc.Proxies.SessionAffinity.TimeoutSeconds = 1
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Greater(t, r.SessionsBroken, 2*r.SessionsForced, "cookies that expire after 1s no longer hold sessions")
}

// PreferClose with balanced zones keeps nearly every request in its zone
// (all of them but those of a zone briefly without pods); without it two
// in three cross.
func TestPreferCloseKeepsRequestsLocal(t *testing.T) {
	sc := short(t, "zone-aware")
	sc.Algorithms = named("least-request", "maglev")
	rep, err := Compare(sc, Options{Runs: 1})
	require.NoError(t, err)
	for _, r := range rep.Results {
		require.NotNil(t, r.CrossZone, r.Algorithm)
		if r.Algorithm == "least-request" || r.Algorithm == "maglev" {
			assert.Less(t, *r.CrossZone, 0.10, r.Algorithm)
		} else {
			assert.InDelta(t, 2.0/3, *r.CrossZone, 0.03, r.Algorithm)
		}
	}
}

// Envoy's zone-aware routing, with half of the pods in one zone and the
// proxies spread evenly, keeps every pod's load near the mean while
// keeping most requests local; PreferClose loads the small zones' pods
// at 4/3 of the mean.
func TestZoneAwareRoutingEvenLoad(t *testing.T) {
	sc := short(t, "zone-skew")
	sc.Algorithms = named("round-robin")
	r, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Less(t, r.RequestSkew.PeakToMean, 1.15)
	require.Len(t, r.ZoneLoad, 3)
	for z, load := range r.ZoneLoad {
		assert.InDelta(t, 1, load, 0.03, "zone %s takes its share", z)
	}
	assert.InDelta(t, 1.0/6, *r.CrossZone, 0.02, "zone-a keeps its own; b and c keep 3/4 of theirs")

	sc.Proxies.ZoneAwareRouting = nil
	sc.Proxies.TrafficDistribution = "PreferClose"
	p, err := Run(sc, mustAlg(t, "round-robin"), Options{})
	require.NoError(t, err)
	assert.Greater(t, p.RequestSkew.PeakToMean, 1.25)
	assert.InDelta(t, 4.0/3, p.ZoneLoad["zone-b"], 0.03, "a quarter of the pods take a third of the requests")
	assert.InDelta(t, 2.0/3, p.ZoneLoad["zone-a"], 0.03)
	assert.Less(t, p.RequestSkew.PeakToMean, 1.5)
	assert.InDelta(t, 0, *p.CrossZone, 0.01)
}

func TestAffinityFieldErrors(t *testing.T) {
	for _, y := range []string{
		"proxies: {sessionAffinity: {type: Sticky}}",
		"proxies: {sessionAffinity: {type: ClientIP, timeoutSeconds: 86401}}",
		"proxies: {sessionAffinity: {type: ClientIP, timeoutSeconds: -1}}",
		"proxies: {trafficDistribution: PreferClose}",
		"proxies: {zones: [a], trafficDistribution: Nearby}",
		"proxies: {zoneAwareRouting: {}}",
		"proxies: {zones: [a], zoneAwareRouting: {minClusterSize: -1}}",
		"proxies: {zones: [a], trafficDistribution: PreferClose, zoneAwareRouting: {}}",
	} {
		_, err := ParseScenario("z.yaml", []byte("duration: 1s\ndeployment: {replicas: 1}\nworkload: {rate: 1}\n"+y+"\n"))
		assert.ErrorIs(t, err, ErrScenario, y)
	}
}
