package health

import "errors"

// ErrConfig is wrapped by every error that reports an invalid
// configuration: a negative or huge duration, a threshold out of range, a
// malformed HTTP probe.
var ErrConfig = errors.New("health: invalid configuration")

// ErrProbe is wrapped by every error a probe in this package returns for an
// unhealthy endpoint: a refused or reset connection, a timeout, an
// unexpected status, a malformed answer. Where the cause is an error of its
// own (a *net.OpError, context.DeadlineExceeded), it is wrapped too, so
// errors.Is and errors.As reach it.
var ErrProbe = errors.New("health: probe failed")
