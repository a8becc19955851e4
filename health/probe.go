package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/lbkit/lbkit/balancer"
)

// Probe checks whether one endpoint is healthy, by sending it real traffic.
type Probe interface {
	// Check probes e and returns nil if it is healthy, or an error that
	// says what went wrong. Check must return once ctx is done: the caller
	// sets the check's timeout as ctx's deadline. It must not modify e, and
	// must be safe for concurrent use by multiple goroutines, since the
	// endpoints of a set are checked at the same time.
	Check(ctx context.Context, e *balancer.Endpoint) error
}

// ProbeFunc adapts a function to the Probe interface.
type ProbeFunc func(ctx context.Context, e *balancer.Endpoint) error

// Check calls f(ctx, e). A nil ProbeFunc returns an error wrapping
// ErrConfig.
func (f ProbeFunc) Check(ctx context.Context, e *balancer.Endpoint) error {
	if f == nil {
		return fmt.Errorf("%w: nil ProbeFunc", ErrConfig)
	}
	return f(ctx, e)
}

// TCPProbe checks that an endpoint accepts TCP connections: it connects to
// Addr and closes the connection at once, as HAProxy's plain "check" does.
// A refused, unreachable or timed-out connection is a failure.
//
// A TCPProbe is safe for concurrent use by multiple goroutines.
type TCPProbe struct {
	// Dialer makes the connection. Nil means a zero net.Dialer. A Dialer's
	// own Timeout, if set, applies as well as the deadline of Check's ctx.
	Dialer *net.Dialer
}

// Check connects to e.Addr and closes the connection.
func (p TCPProbe) Check(ctx context.Context, e *balancer.Endpoint) error {
	if e == nil {
		return errProbeNilEndpoint
	}
	d := p.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	c, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return probeError(err)
	}
	c.Close()
	return nil
}

var errProbeNilEndpoint = fmt.Errorf("%w: nil endpoint", ErrConfig)

// httpProbeMaxBody bounds how much of an answer's body a check reads, and
// httpProbeMaxHeader how large its header may be, so that a huge or
// garbage answer cannot hold a check or its memory.
const (
	httpProbeMaxBody   = 64 << 10
	httpProbeMaxHeader = 64 << 10
)

// StatusRange is a range of HTTP status codes, Min and Max included.
type StatusRange struct {
	Min, Max int
}

// HTTPProbe checks an endpoint with an HTTP request, as HAProxy's
// "option httpchk" and Kubernetes' httpGet probe do: it sends
// Method Path to Addr and expects a status in Expected. It reads at most
// 64 KiB of the body and discards it; a connection error, a timeout, a
// malformed answer or a body cut short is a failure.
//
// The zero HTTPProbe sends "GET /" over plain HTTP and wants a status from
// 200 to 399. An HTTPProbe is safe for concurrent use by multiple
// goroutines as long as its fields are not modified.
type HTTPProbe struct {
	// Method is the request method, an HTTP token. Empty means GET.
	Method string
	// Path is the request target: a path starting with "/", optionally
	// with a query. Empty means "/".
	Path string
	// Host is the Host header. Empty means the endpoint's Addr. A "Host"
	// in Header is ignored, as net/http ignores it.
	Host string
	// Scheme is "http" or "https". Empty means "http". The default Client
	// verifies an https server's certificate against the host of Addr
	// (Go's http.Transport takes the TLS server name from the URL, not from
	// Host); to check pods by IP address, supply a Client whose Transport
	// sets TLSClientConfig.ServerName or skips verification.
	Scheme string
	// Expected lists the statuses that count as healthy. Empty means
	// 200-399, as HAProxy's httpchk and Kubernetes' httpGet probes accept;
	// Envoy's default is 200 alone ({200, 200} here).
	Expected []StatusRange
	// Client sends the request. Nil means a client with keep-alives off,
	// so that every check opens a real connection as HAProxy's do, which
	// follows no redirect (a 3xx answer is judged by its own status),
	// ignores proxy settings from the environment and accepts at most
	// 64 KiB of response header. A Client's own redirect policy and
	// timeouts apply as they are.
	Client *http.Client
	// Header holds extra request headers. Nil means none, beyond a
	// User-Agent of "lbkit-health" unless Header sets one.
	Header http.Header
}

// httpProbeClient is the default Client of HTTPProbe. It keeps no idle
// connections, so it holds no state between checks and is shared.
var httpProbeClient = &http.Client{
	Transport: &http.Transport{
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: httpProbeMaxHeader,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Validate reports whether p is usable: Method an HTTP token, Path
// starting with "/" with no space, control character or "#", Scheme http
// or https, Host made of the bytes net/http accepts in a Host header
// (letters, digits and !$%&'()*+,-.:;=[]_~), header names tokens and
// values free of control characters but tab, and every range in Expected
// within 100-599 with Min <= Max. Errors wrap ErrConfig.
func (p HTTPProbe) Validate() error {
	if p.Method != "" && !isToken(p.Method) {
		return fmt.Errorf("%w: HTTP probe method %q is not an HTTP token", ErrConfig, p.Method)
	}
	if p.Path != "" {
		if p.Path[0] != '/' {
			return fmt.Errorf("%w: HTTP probe path %q does not start with \"/\"", ErrConfig, p.Path)
		}
		if hasSpaceOrCtl(p.Path) || strings.Contains(p.Path, "#") {
			return fmt.Errorf("%w: HTTP probe path %q holds a space, control character or \"#\"", ErrConfig, p.Path)
		}
		if _, err := url.ParseRequestURI(p.Path); err != nil {
			return fmt.Errorf("%w: HTTP probe path %q: %w", ErrConfig, p.Path, err)
		}
	}
	if p.Host != "" && !isHost(p.Host) {
		return fmt.Errorf("%w: HTTP probe host %q is not a valid Host header", ErrConfig, p.Host)
	}
	switch p.Scheme {
	case "", "http", "https":
	default:
		return fmt.Errorf("%w: HTTP probe scheme %q is neither http nor https", ErrConfig, p.Scheme)
	}
	for i, r := range p.Expected {
		if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
			return fmt.Errorf("%w: HTTP probe expected status range %d is %d-%d, want 100 <= Min <= Max <= 599", ErrConfig, i, r.Min, r.Max)
		}
	}
	for name, values := range p.Header {
		if !isToken(name) {
			return fmt.Errorf("%w: HTTP probe header name %q is not an HTTP token", ErrConfig, name)
		}
		for _, v := range values {
			if !isFieldValue(v) {
				return fmt.Errorf("%w: HTTP probe header %s has a value with a control character", ErrConfig, name)
			}
		}
	}
	return nil
}

// Check sends the request to e.Addr and judges the answer. On an invalid
// p it returns the error of Validate without sending anything.
func (p HTTPProbe) Check(ctx context.Context, e *balancer.Endpoint) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if e == nil {
		return errProbeNilEndpoint
	}
	method, path, scheme := p.Method, p.Path, p.Scheme
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/"
	}
	if scheme == "" {
		scheme = "http"
	}
	target := scheme + "://" + e.Addr + path
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return fmt.Errorf("%w: cannot address endpoint %q: %w", ErrProbe, e.ID, err)
	}
	if p.Host != "" {
		req.Host = p.Host
	}
	if p.Header != nil {
		req.Header = p.Header.Clone()
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "lbkit-health")
	}
	client := p.Client
	if client == nil {
		client = httpProbeClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return probeError(err)
	}
	defer resp.Body.Close()
	if !p.expected(resp.StatusCode) {
		return fmt.Errorf("%w: %s %s: status %d", ErrProbe, method, target, resp.StatusCode)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, httpProbeMaxBody); err != nil && err != io.EOF {
		return probeError(fmt.Errorf("%s %s: reading body: %w", method, target, err))
	}
	return nil
}

// expected reports whether code is one of p's expected statuses.
func (p HTTPProbe) expected(code int) bool {
	if len(p.Expected) == 0 {
		return code >= 200 && code <= 399
	}
	for _, r := range p.Expected {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// probeError wraps a probe's transport error in ErrProbe, keeping it
// reachable by errors.Is, and says "timeout" when it is one.
func probeError(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: timeout: %w", ErrProbe, err)
	}
	return fmt.Errorf("%w: %w", ErrProbe, err)
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110, 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isHost reports whether every byte of s is one net/http accepts in a Host
// header.
func isHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isFieldValue reports whether s may be a header field value: no control
// character but tab, no DEL.
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hasSpaceOrCtl reports whether s holds a space, an ASCII control
// character or DEL.
func hasSpaceOrCtl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}
