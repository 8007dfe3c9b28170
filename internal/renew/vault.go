package renew

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/login"
)

// Authenticator logs in; *login.Client is one.
type Authenticator interface {
	Login(ctx context.Context) (*api.Secret, error)
}

// TokenAPI is what the loop needs from Vault's token store; NewTokenAPI
// provides it.
type TokenAPI interface {
	// RenewSelf calls auth/token/renew-self as token, with no increment
	// (Vault applies the role's token_ttl, capped at the max TTL).
	RenewSelf(ctx context.Context, token string) (*api.Secret, error)
	// RevokeSelf calls auth/token/revoke-self as token.
	RevokeSelf(ctx context.Context, token string) error
}

// RenewRefused is a renewal Vault answered and refused: the token is
// revoked or expired (403), the request is wrong (4xx), or the login role
// was deleted or no longer binds this instance (Vault answers those with a
// 500). Waiting does not help; logging in again might.
type RenewRefused struct {
	Status int
	Errors []string // Vault's error messages, verbatim
}

func (r *RenewRefused) Unwrap() error { return failure.RenewRefused }

func (r *RenewRefused) Error() string {
	return fmt.Sprintf("vault refused the token renewal (HTTP %d): %s", r.Status, strings.Join(r.Errors, "; "))
}

// roleGone are the 500 answers to renew-self of an aws-auth token whose
// role was deleted or no longer binds the instance: permanent, not
// transient.
var roleGone = []string{
	"role entry not found",
	"no longer bound to",
}

// NewTokenAPI calls Vault through c. c's own retries must be off (the
// loop owns retrying, as login.NewVaultClient sets up). c's token is never
// changed: each request carries the token it is given. Calls are
// serialized; the loop makes one at a time anyway.
func NewTokenAPI(c *api.Client) TokenAPI {
	v := &vaultTokens{}
	v.c = c.WithRequestCallbacks(func(r *api.Request) { r.ClientToken = v.token })
	return v
}

type vaultTokens struct {
	mu    sync.Mutex  // held for a whole call; guards token
	token string      // the token the current call sends
	c     *api.Client // a shallow copy of the caller's client that sends token
}

func (v *vaultTokens) RenewSelf(ctx context.Context, token string) (*api.Secret, error) {
	resp, err := v.put(ctx, token, "auth/token/renew-self")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	secret, err := api.ParseSecret(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: decode vault's renewal answer: %w", failure.Unreachable, err)
	}
	if secret == nil || secret.Auth == nil {
		return nil, fmt.Errorf("%w: vault answered renew-self without auth data", failure.Unreachable)
	}
	return secret, nil
}

func (v *vaultTokens) RevokeSelf(ctx context.Context, token string) error {
	resp, err := v.put(ctx, token, "auth/token/revoke-self")
	var rr *RenewRefused
	if errors.As(err, &rr) {
		return fmt.Errorf("vault refused the token revocation (HTTP %d): %s", rr.Status, strings.Join(rr.Errors, "; "))
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// put sends an empty JSON body as token through the raw call, so the
// Retry-After of a 429/503 is not lost, and classifies failures: a
// *login.Unavailable (5xx, 429), an error wrapping failure.Unreachable (no
// answer) or a *RenewRefused (any other answer).
func (v *vaultTokens) put(ctx context.Context, token, path string) (*api.Response, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.token = token
	resp, err := v.c.Logical().WriteRawWithContext(ctx, path, []byte("{}"))
	if err == nil {
		return resp, nil
	}
	if resp != nil {
		defer resp.Body.Close()
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return nil, fmt.Errorf("%w: %s at %s: %w", failure.Unreachable, path, v.c.Address(), err)
	}
	if re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500 && !isRoleGone(re.Errors) {
		u := &login.Unavailable{Status: re.StatusCode, Errors: re.Errors}
		if resp != nil {
			u.RetryAfter = login.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		return nil, u
	}
	return nil, &RenewRefused{Status: re.StatusCode, Errors: re.Errors}
}

func isRoleGone(errs []string) bool {
	msg := strings.Join(errs, "; ")
	for _, s := range roleGone {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Classify is the kind of failure err carries (failure.Of) and the
// Retry-After Vault asked for (0 when none). An error without a kind is
// failure.Runtime, which the policy retries with backoff like an outage: a
// renewal that keeps failing becomes a login before the token expires.
func Classify(err error) (failure.Kind, time.Duration) {
	var u *login.Unavailable
	if errors.As(err, &u) {
		return failure.Of(err), u.RetryAfter
	}
	return failure.Of(err), 0
}
