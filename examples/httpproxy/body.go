package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/lbkit/lbkit/balancer"
)

// maxReplayBody is the largest request body the retrier keeps in memory
// so that it can send it again after the request was sent and failed.
// Only the bodies of idempotent requests are read ahead, and only while
// retries are on. A larger body streams to the backend as it arrives, and
// its request is retried only when the connection could not be made.
// nginx reads whole bodies ahead too (proxy_request_buffering), spilling
// past 16 KiB to a temporary file; 64 KiB covers the usual JSON PUT.
const maxReplayBody = 64 << 10

// requestBody is the body of one proxied request, as the retrier sends it
// attempt after attempt. Either buf holds the whole body, or the body (if
// any) streams from the client through unread, once.
type requestBody struct {
	has    bool        // the request has a body
	buf    []byte      // the whole body, read ahead; nil if not
	unread *unreadBody // the client's body, when not read ahead
}

// newRequestBody reads req's body ahead when readAhead is set and the body
// is at most maxReplayBody bytes; a larger one streams, its start read
// ahead put back in front of the rest.
func newRequestBody(req *http.Request, readAhead bool) (requestBody, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return requestBody{}, nil
	}
	r := io.Reader(req.Body)
	if readAhead && req.ContentLength <= maxReplayBody {
		buf, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
		if err != nil {
			return requestBody{}, err
		}
		if len(buf) <= maxReplayBody {
			return requestBody{has: true, buf: buf}, nil
		}
		r = io.MultiReader(bytes.NewReader(buf), req.Body)
	}
	return requestBody{has: true, unread: &unreadBody{r: r}}, nil
}

// attempt returns req sent to e, with the body to send it with.
func (b *requestBody) attempt(req *http.Request, e *balancer.Endpoint) *http.Request {
	out := target(req, e)
	switch {
	case b.buf != nil:
		out.Body = io.NopCloser(bytes.NewReader(b.buf))
		out.GetBody = b.getBody
	case b.unread != nil:
		out.Body = b.unread
	}
	return out
}

func (b *requestBody) getBody() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.buf)), nil
}

// retryable reports whether an attempt that failed with err may be sent
// again: after a failed dial when the body was not touched, after any other
// failure when the request is idempotent and the body can be sent again.
func (b *requestBody) retryable(req *http.Request, err error) bool {
	replayable := !b.has || b.buf != nil
	if isDialError(err) {
		return replayable || !b.unread.read.Load()
	}
	return replayable && idempotent(req)
}

// unreadBody passes the client's body to an attempt and remembers whether
// it was read. Its Close does nothing, so that the Transport closing it
// after a failed dial leaves it whole for the next attempt; ReverseProxy
// closes the client's body itself.
type unreadBody struct {
	r    io.Reader
	read atomic.Bool // set by the Transport's writing goroutine
}

func (u *unreadBody) Read(p []byte) (int, error) {
	u.read.Store(true)
	return u.r.Read(p)
}

func (u *unreadBody) Close() error { return nil }

// respond returns resp with a body that ends the attempt res when
// ReverseProxy closes it, after streaming it to the client. The attempt's
// latency is the time to the response headers, latency. A 5xx is an
// UpstreamFailure. A 101 Switching Protocols is ended at once, as
// ReverseProxy needs its body to be the connection itself.
func respond(ctx context.Context, resp *http.Response, res balancer.Result, latency time.Duration) *http.Response {
	info := balancer.DoneInfo{Latency: latency}
	if resp.StatusCode >= 500 {
		info.Err, info.Failure = errStatus, balancer.UpstreamFailure
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		res.Done(info)
		return resp
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, ctx: ctx, res: res, info: info}
	return resp
}

// doneBody is a response body that ends its attempt with Result.Done when
// it is closed: as info says, unless reading it failed (a GatewayFailure:
// the backend broke off) or the client went away before it was read to
// the end (Canceled). Like the body it wraps, it is for one goroutine at a
// time.
type doneBody struct {
	io.ReadCloser
	ctx   context.Context
	res   balancer.Result
	info  balancer.DoneInfo
	eof   bool
	err   error // the first read error other than io.EOF
	ended bool
}

func (b *doneBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	if b.ended {
		return err
	}
	b.ended = true
	info := b.info
	switch {
	case !b.eof && b.ctx.Err() != nil:
		info.Failure = balancer.Canceled
	case b.err != nil:
		info.Err, info.Failure = b.err, balancer.GatewayFailure
	}
	b.res.Done(info)
	return err
}
