package sim

import (
	"encoding/binary"
	"time"

	"github.com/lbkit/lbkit/affinity"
	"github.com/lbkit/lbkit/balancer"
	"github.com/lbkit/lbkit/internal/xrand"
)

// Session affinity and zone routing on the proxies: the affinity
// package's real tables, cookies and zone pickers, on the virtual clock.

// newAffinity makes the run's cookie signer, when sessions carry cookies.
// The key is a function of the seed, so runs are reproducible; a real
// proxy uses a secret.
func (r *run) newAffinity() error {
	a := r.sc.Proxies.SessionAffinity
	if a == nil || a.Type != AffinityCookie || r.alg.Baseline {
		return nil
	}
	key := make([]byte, 32)
	for i := range 4 {
		binary.LittleEndian.PutUint64(key[8*i:], xrand.Mix64(r.sc.Seed^0x636f_6f6b_6965+uint64(i)))
	}
	c, err := affinity.NewCookies(affinity.CookieConfig{Keys: [][]byte{key}, TTL: time.Duration(a.TimeoutSeconds) * time.Second})
	if err != nil {
		return err
	}
	r.cookies = c
	return nil
}

// newSticky makes a proxy's ClientIP table, when the scenario asks for
// one.
func (r *run) newSticky() (*affinity.Sticky, error) {
	a := r.sc.Proxies.SessionAffinity
	if a == nil || a.Type != AffinityClientIP || r.alg.Baseline {
		return nil, nil
	}
	// Every key of the key space is a client, and a client can come no
	// more often than the workload's arrivals: room for twice as many as
	// can come, so that no live session is evicted early. (The table is
	// allocated whole, 28 bytes an entry.)
	arrivals := r.sc.Workload.expected(r.sc.Duration.Std(), r.sc.meanEndpoints())
	entries := int(min(2*float64(r.sc.Workload.Keys.Count), 4*arrivals+1024, 1<<21))
	return affinity.NewSticky(affinity.StickyConfig{Timeout: time.Duration(a.TimeoutSeconds) * time.Second, MaxEntries: entries})
}

// builder returns the Builder of a proxy in zone: the algorithm's, inside
// the affinity package's zone routing when the scenario asks for it.
func (r *run) builder(b balancer.Builder, zone string, seed uint64) balancer.Builder {
	px := &r.sc.Proxies
	if r.alg.Baseline || zone == "" || px.TrafficDistribution == "" && px.ZoneAwareRouting == nil {
		return b
	}
	z := affinity.Zones{Local: zone, Builder: b, Mode: affinity.PreferClose, Rand: balancer.NewSource(seed)}
	if za := px.ZoneAwareRouting; za != nil {
		z.Mode = affinity.ZoneAware
		z.MinClusterSize = za.MinClusterSize
		z.Proxies = map[string]float64{}
		for i := range px.Replicas {
			z.Proxies[px.Zones[i%len(px.Zones)]]++
		}
	}
	return z
}

// pick chooses the endpoint for one try on its proxy: through the
// session's cookie or the proxy's ClientIP table on a first try, through
// the Balancer otherwise. cookie says whether the try's session should
// be given a new cookie naming the endpoint, if it takes the request.
func (r *run) pick(px *proxy, t try) (res balancer.Result, cookie bool, err error) {
	req := balancer.Request{Hash: t.hash, HasHash: true, Attempt: int(t.attempt), Now: r.unixNano()}
	switch {
	case t.attempt > 0:
		// A retry goes elsewhere, through the Balancer; the table and the
		// cookie keep the endpoint that failed until it leaves the set.
		res, err = px.bal.Pick(req)
		return res, r.cookies != nil && t.session >= 0, err
	case px.sticky != nil:
		res, _, err = px.sticky.Pick(px.bal, t.hash, req, req.Now)
		return res, false, err
	case r.cookies != nil && t.session >= 0:
		return r.cookies.PickValue(px.bal, r.sessions[t.session].cookie, req, req.Now)
	}
	res, err = px.bal.Pick(req)
	return res, false, err
}

// setCookie gives a session the cookie naming the endpoint that took its
// request, as the proxy's answer would.
func (r *run) setCookie(s int32, e *balancer.Endpoint) {
	r.sessions[s].cookie = r.cookies.Cookie(e, r.unixNano()).Value
}
