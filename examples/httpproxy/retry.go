package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// errStatus marks a 5xx response as a failure for the balancer.
var errStatus = errors.New("httpproxy: backend answered 5xx")

// errAllTried is what a retry's pick returns when it finds no endpoint
// that has not already failed the request.
var errAllTried = errors.New("httpproxy: every backend tried")

// maxRepicks is how many picks a retry makes, with Attempt counting up,
// to find an endpoint that has not already failed the request. Hash
// pickers give a different endpoint for each Attempt, and round robin the
// next one, so one pick is enough for them; random, least-request and
// peak-ewma may offer the same endpoint again, with 2 endpoints half the
// time. After maxRepicks such picks the retry takes the first endpoint of
// the set that has not failed (a 1 in 256 case with random over 2), so a
// retry misses a live endpoint only when there is none.
const maxRepicks = 8

// retrier is the http.RoundTripper of the proxy's ReverseProxy: it picks
// an endpoint for each attempt, points the request at it and sends it over
// next; when the attempt fails in a way that allows it, it picks another
// endpoint and sends the request again, up to retries times. It is safe
// for concurrent use by multiple goroutines.
//
// Which failures are retried follows nginx's proxy_next_upstream "error
// timeout" (its default) and HAProxy's "option redispatch":
//
//   - A connection that could not be made (refused, unreachable, dial
//     timeout): nothing reached the backend, so any request is retried,
//     POST included.
//   - A request that was sent and then met a reset, an EOF or the
//     response-header timeout before any response: retried only when it is
//     idempotent (see idempotent) and its body can be sent again (see
//     requestBody). nginx too stops after a request with a non-idempotent
//     method has been sent.
//   - A response, whatever its status, ends the request: a 5xx passes
//     through to the client and counts as an UpstreamFailure.
//
// A retry never goes to an endpoint that already failed the request (see
// maxRepicks): when none is left, the request fails with the last error,
// as nginx limits its tries to the number of servers.
//
// Each attempt has its own pick and exactly one Result.Done. A failed
// attempt is ended after the pick of the next one, so that the
// least-request pickers still see it in flight and steer away from it. Its
// DoneInfo says GatewayFailure, or Canceled when the client went away;
// only a timeout feeds its elapsed time as the endpoint's latency (a lower
// bound on it), since a refusal or a reset is quick and says nothing of
// how fast the backend answers. An attempt that got a response is ended
// when ReverseProxy closes the response body, after streaming it to the
// client, with the latency to the response headers: see doneBody.
type retrier struct {
	bal     *balancer.Balancer
	next    http.RoundTripper
	aff     *affinityPolicy // the request key, sticky sessions or cookies of the first attempt
	retries int
}

// RoundTrip sends req to one endpoint after another until one answers,
// the failure may not be retried, or the retries run out.
func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var breq balancer.Request
	body, err := newRequestBody(req, t.retries > 0 && idempotent(req))
	if err != nil {
		return nil, err
	}
	var (
		failed [4]*balancer.Endpoint
		tried  = failed[:0]
		res    balancer.Result // the attempt in flight
		info   balancer.DoneInfo
		issue  bool // the response gets a new session cookie
	)
	for try := 0; ; try++ {
		var e *balancer.Endpoint
		if try == 0 {
			var perr error
			if res, issue, perr = t.aff.first(t.bal, req, &breq); perr != nil {
				return nil, perr
			}
			e = res.Endpoint
		} else {
			var perr error
			e, perr = t.pick(&breq, tried)
			res.Done(info) // the failed attempt before this one
			if perr != nil {
				return nil, err // the last attempt's
			}
			res = e.Begin()
			issue = true // a session moves to the endpoint that answers
		}
		start := time.Now()
		var resp *http.Response
		resp, err = t.next.RoundTrip(body.attempt(req, e))
		if err == nil {
			t.aff.served(req, resp, e, issue)
			return respond(ctx, resp, res, time.Since(start)), nil
		}
		info = balancer.DoneInfo{Err: err, Failure: balancer.GatewayFailure}
		if isTimeout(err) {
			info.Latency = time.Since(start)
		}
		if ctx.Err() != nil {
			info.Failure = balancer.Canceled
		}
		if info.Failure == balancer.Canceled || try == t.retries || !body.retryable(req, err) {
			res.Done(info)
			return nil, err
		}
		tried = append(tried, e)
	}
}

// pick picks an endpoint not in tried, with req.Attempt counting the
// picks made for the request so far.
func (t *retrier) pick(req *balancer.Request, tried []*balancer.Endpoint) (*balancer.Endpoint, error) {
	picker := t.bal.Picker()
	for range maxRepicks {
		e, err := picker.Pick(*req)
		req.Attempt++
		if err != nil || !contains(tried, e) {
			return e, err
		}
	}
	// Serving, not Endpoints: a retry does not go to a backend that is
	// down or ejected.
	for _, e := range t.bal.Serving() {
		if !contains(tried, e) {
			return e, nil
		}
	}
	return nil, errAllTried
}

// contains reports whether e's backend is one of eps. It compares IDs, as
// an Update may replace the Endpoint of an ID that stays.
func contains(eps []*balancer.Endpoint, e *balancer.Endpoint) bool {
	for _, x := range eps {
		if x.ID == e.ID {
			return true
		}
	}
	return false
}

// target returns a shallow copy of req sent to e, as
// httputil.ProxyRequest.SetURL would route it: e's scheme and host, e's
// base path joined to the request's, e's host in the Host header.
func target(req *http.Request, e *balancer.Endpoint) *http.Request {
	u, _ := url.Parse(e.Addr) // checked by setBackends
	out := *req
	to := *req.URL
	out.URL = &to
	(&httputil.ProxyRequest{Out: &out}).SetURL(u)
	return &out
}

// idempotent reports whether req may be sent twice: its method is
// idempotent by RFC 9110 section 9.2.2 (GET, HEAD, OPTIONS, TRACE, PUT,
// DELETE), or it carries an Idempotency-Key or X-Idempotency-Key header,
// as net/http's Transport decides for its own retries (which count only
// the safe methods, not PUT and DELETE).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// isDialError reports whether err is a failure to connect, before
// anything was sent: refused, unreachable, or the dial timeout.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isTimeout reports whether err is a timeout: of the dial, or of the wait
// for response headers.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
