package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// Client calls the local API over the agent's unix socket. The zero value
// with Socket set is ready to use; a Client is safe for concurrent use.
type Client struct {
	Socket string // path of the agent's socket; "" means DefaultSocket

	once sync.Once
	hc   *http.Client
}

// UnreachableError means the agent's socket could not be reached: no
// agent running, a wrong path (failure.Unreachable), or a socket mode that
// shuts the caller out (failure.Refused).
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the agent at %s: %v", e.Socket, e.Err)
}

func (e *UnreachableError) Unwrap() []error {
	if errors.Is(e.Err, syscall.EACCES) {
		return []error{failure.Refused, e.Err}
	}
	return []error{failure.Unreachable, e.Err}
}

// APIError is an answer other than 200: a 403 is failure.Refused (the
// agent refused this caller), a 503 or 429 failure.Unreachable (no valid
// token yet).
type APIError struct {
	StatusCode int
	Message    string        // the body's first line
	RetryAfter time.Duration // from Retry-After; 0 if absent
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

func (e *APIError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusForbidden:
		return failure.Refused
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return failure.Unreachable
	}
	return nil
}

// WaitError is WaitHealthy's error when ctx ends before the agent is
// healthy. It wraps both ctx's error and the last failure, so errors.Is
// finds context.DeadlineExceeded and errors.As the *APIError or
// *UnreachableError.
type WaitError struct {
	Err  error // ctx's error
	Last error // the last reason the agent was not healthy
}

func (e *WaitError) Error() string { return fmt.Sprintf("%v; last: %v", e.Err, e.Last) }

func (e *WaitError) Unwrap() []error {
	if e.Last == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Last}
}

// requestTimeout bounds a request that does not long-poll.
const requestTimeout = 10 * time.Second

// maxBody bounds what the client reads from an answer.
const maxBody = 1 << 20

func (c *Client) socket() string {
	if c.Socket == "" {
		return DefaultSocket
	}
	return c.Socket
}

func (c *Client) client() *http.Client {
	c.once.Do(func() {
		path := c.socket()
		var d net.Dialer
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy: nil, // never send the token through an HTTP proxy from the environment
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", path)
			},
			DisableCompression:  true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}}
	})
	return c.hc
}

// get does one GET; wait > 0 adds ?wait= and lengthens the timeout.
func (c *Client) get(ctx context.Context, path string, wait time.Duration, header http.Header) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout+wait)
	defer cancel()
	url := "http://localhost" + path
	if wait > 0 {
		url += "?wait=" + wait.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set(RequestHeader, "true")
	resp, err := c.client().Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, nil, &UnreachableError{Socket: c.socket(), Err: op.Err}
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

func apiError(resp *http.Response, body []byte) *APIError {
	msg, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	e := &APIError{StatusCode: resp.StatusCode, Message: msg}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// Token returns the raw token.
func (c *Client) Token(ctx context.Context) (string, error) {
	resp, body, err := c.get(ctx, PathToken, 0, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", apiError(resp, body)
	}
	return string(body), nil
}

// TokenInfo returns the token with its accessor, policies and expiry.
func (c *Client) TokenInfo(ctx context.Context) (TokenInfo, error) {
	var ti TokenInfo
	err := c.getJSON(ctx, PathToken, 0, &ti)
	return ti, err
}

// Status returns /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.getJSON(ctx, PathStatus, 0, &st)
	return st, err
}

// Health returns /v1/health; an unhealthy agent is an *APIError with
// StatusCode 503.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.getJSON(ctx, PathHealth, 0, &h)
	return h, err
}

func (c *Client) getJSON(ctx context.Context, path string, wait time.Duration, v any) error {
	resp, body, err := c.get(ctx, path, wait, http.Header{"Accept": {"application/json"}})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("agent's answer to %s: %w", path, err)
	}
	return nil
}

// Waits of WaitHealthy.
const (
	healthPoll      = time.Minute            // ?wait= of each long-poll
	unreachableWait = 250 * time.Millisecond // between attempts while the socket is not there
)

// WaitHealthy returns nil once the agent holds a valid token. It
// long-polls /v1/health, and retries while the agent is unreachable (not
// started yet) or answers 503. A 400 or 403 returns at once: waiting
// cannot fix it. When ctx ends first it returns a *WaitError.
func (c *Client) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		wait := healthPoll
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl).Truncate(time.Second))
		}
		err := c.getJSON(ctx, PathHealth, max(wait, 0), &Health{})
		if err == nil {
			return nil
		}
		var ae *APIError
		var ue *UnreachableError
		pause := time.Duration(0)
		switch {
		case errors.As(err, &ae) && (ae.StatusCode == http.StatusServiceUnavailable || ae.StatusCode == http.StatusTooManyRequests):
			pause = min(ae.RetryAfter, time.Second) // the long-poll waited already
		case errors.As(err, &ue):
			pause = unreachableWait
		case ctx.Err() != nil:
		case errors.As(err, &ae):
			return err
		default:
			pause = unreachableWait
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return &WaitError{Err: ctx.Err(), Last: last}
		case <-t.C:
		}
	}
}
