// Package vault is the agent's one way to call Vault: NewClient builds the
// vault/api client (no retries of its own, every error answer redacted as
// it arrives), and Call makes a request and returns Vault's answer, or one
// typed Error: no answer, an answer that says no (with Vault's messages,
// its Retry-After and the kind of failure), or one that cannot be read.
// The login (login) and the token's own calls (renew) go through Call.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// timeout bounds one request to Vault, answer included.
const timeout = 30 * time.Second

// NewClient builds a vault/api client from the typed config. Its own
// retries are off: the lifecycle owns retrying. It carries no token. Its
// requests go to the vault addresses through a Selector, whose cool-downs
// follow lc's min_backoff and max_backoff (SelectorOf returns it) and
// which logs to log (nil: nowhere). Every
// error answer it receives is redacted before vault/api reads it
// (redactErrorBody), so errors from its calls never carry back a secret
// the request sent. Each request is bounded by timeout through the HTTP
// client rather than vault/api's own timeout, which cancels the request's
// context as the call returns, before the answer's body is read: the
// connection was then closed and every renewal dialled Vault anew.
func NewClient(v config.Vault, lc config.Lifecycle, log *zap.Logger) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client defaults: %w", cfg.Error)
	}
	cfg.MaxRetries = 0
	cfg.Timeout = 0
	cfg.HttpClient.Timeout = timeout
	tls := &api.TLSConfig{
		CACert:        v.CACert,
		CAPath:        v.CAPath,
		ClientCert:    v.ClientCert,
		ClientKey:     v.ClientKey,
		TLSServerName: v.TLSServerName,
		Insecure:      v.TLSSkipVerify,
	}
	if err := cfg.ConfigureTLS(tls); err != nil {
		return nil, fmt.Errorf("vault tls settings (ca_cert, client_cert, client_key): %w", err)
	}
	addrs := v.Addresses
	sel, err := NewSelector(addrs, lc.MinBackoff, lc.MaxBackoff, cfg.HttpClient.Transport, log)
	if err != nil {
		return nil, err
	}
	cfg.Address = addrs[0]
	cfg.HttpClient.Transport = sel
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", addrs[0], err)
	}
	c = c.WithResponseCallbacks(redactErrorBody)
	c.ClearToken()
	c.SetNamespace(v.Namespace)
	return c, nil
}

// Request is one call to Vault.
type Request struct {
	Op    string // what is asked, as errors name it: "login", "token renewal", "token revocation"
	Path  string // e.g. "auth/aws/login"
	Token string // sent as X-Vault-Token; "" sends the client's (NewClient's: none)
	Body  any    // sent as JSON; nil sends {}
	// Read sends a GET, without a body, rather than a write: for paths a
	// policy may grant only "read" on, such as the default policy's
	// auth/token/lookup-self.
	Read bool
	// Refused is the kind of an answer that says no (4xx other than 429):
	// failure.Refused for a login, failure.RenewRefused for a renewal.
	Refused failure.Kind
	// NoAnswer leaves a successful answer's body unread (a revocation's).
	NoAnswer bool
	// WrapTTL, when not 0, asks Vault to wrap its answer in a wrapping
	// token that lives this long (X-Vault-Wrap-TTL).
	WrapTTL time.Duration
}

// Call sends r through c with the raw call, so that a 429's or 503's
// Retry-After is not lost, and returns Vault's answer (nil for one without
// a body). Its error is an *Error: failure.Unreachable when Vault does not
// answer, answers 5xx or 429, says it is sealed, or answers what does not
// decode; r.Refused for any other error answer. c's own token is never
// changed.
func Call(ctx context.Context, c *api.Client, r Request) (*api.Secret, error) {
	body := []byte("{}")
	if r.Body != nil {
		var err error
		if body, err = json.Marshal(r.Body); err != nil {
			return nil, fmt.Errorf("encode the %s request: %w", r.Op, err)
		}
	}
	if r.Token != "" || r.WrapTTL != 0 {
		c = c.WithRequestCallbacks(func(req *api.Request) {
			if r.Token != "" {
				req.ClientToken = r.Token
			}
			if r.WrapTTL != 0 {
				req.WrapTTL = r.WrapTTL.String()
			}
		})
	}
	var resp *api.Response
	var err error
	if r.Read {
		resp, err = c.Logical().ReadRawWithContext(ctx, r.Path)
	} else {
		resp, err = c.Logical().WriteRawWithContext(ctx, r.Path, body)
	}
	if resp != nil {
		defer resp.Body.Close()
	}
	e := &Error{Op: r.Op, Kind: failure.Unreachable}
	var re *api.ResponseError
	switch {
	case errors.As(err, &re):
		e.Status, e.Errors = re.StatusCode, re.Errors
		if re.StatusCode != http.StatusTooManyRequests && re.StatusCode < 500 && !saysSealed(re.Errors) {
			e.Kind = r.Refused
		} else if resp != nil {
			e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, e
	case err != nil:
		e.Err = err
		return nil, e
	case r.NoAnswer:
		return nil, nil
	}
	secret, err := api.ParseSecret(resp.Body)
	if err != nil {
		e.Status, e.Err = resp.StatusCode, fmt.Errorf("decode vault's %s answer: %w", r.Op, err)
		return nil, e
	}
	return secret, nil
}

// Wrap asks Vault for a wrapping token of token (sys/wrapping/wrap, as
// token itself), as Vault Agent's sink wrap_ttl does: unwrapping it gives
// {"token": token}. The wrapping token lives ttl and can be unwrapped once.
// Its error is an *Error, as Call's; a refusal is failure.Refused.
func Wrap(ctx context.Context, c *api.Client, token string, ttl time.Duration) (*api.SecretWrapInfo, error) {
	secret, err := Call(ctx, c, Request{Op: "token wrapping", Path: "sys/wrapping/wrap", Token: token,
		Body: map[string]string{"token": token}, Refused: failure.Refused, WrapTTL: ttl})
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.WrapInfo == nil || secret.WrapInfo.Token == "" {
		return nil, &Error{Op: "token wrapping", Kind: failure.Unreachable, Err: errors.New("vault answered sys/wrapping/wrap without a wrapping token")}
	}
	return secret.WrapInfo, nil
}

// Error is a failed call to Vault.
type Error struct {
	Op         string        // what was asked (Request's)
	Status     int           // the HTTP status; 0 when Vault did not answer
	Errors     []string      // Vault's error messages, verbatim (and redacted: NewClient)
	RetryAfter time.Duration // a 429's or 5xx's Retry-After; 0 when none
	Kind       failure.Kind
	Cause, Fix string // a refusal's likely cause and what to change, when known (login.Diagnose)
	Err        error  // why there is no usable answer: no connection, a body that does not decode
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil:
		return "vault unreachable: " + e.Err.Error()
	case e.Kind == failure.Unreachable:
		return fmt.Sprintf("vault unavailable (HTTP %d): %s", e.Status, strings.Join(e.Errors, "; "))
	}
	msg := fmt.Sprintf("vault refused the %s (HTTP %d): %s", e.Op, e.Status, strings.Join(e.Errors, "; "))
	if e.Cause != "" {
		msg += "\ncause: " + e.Cause
	}
	if e.Fix != "" {
		msg += "\nfix: " + e.Fix
	}
	return msg
}

// Unwrap gives the kind of failure, and the cause of an unusable answer.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// RetryAfter is the Retry-After of the Vault answer err holds, if any.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date);
// 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		// Capped where n seconds would overflow a Duration (about 292 years).
		return time.Duration(min(n, int((1<<63-1)/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
