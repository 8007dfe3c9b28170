package renew

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vault"
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
	// LookupSelf calls auth/token/lookup-self as token: its TTL,
	// accessor, path and more, in the answer's Data.
	LookupSelf(ctx context.Context, token string) (*api.Secret, error)
}

// roleGone are the 500 answers to renew-self of an aws-auth token whose
// role was deleted or no longer binds the instance: permanent, not
// transient.
var roleGone = []string{
	"role entry not found",
	"no longer bound to",
}

// NewTokenAPI calls Vault through c (vault.Call). c's own retries must be
// off (the loop owns retrying, as vault.NewClient sets up). c's token is
// never changed: each request carries the token it is given.
func NewTokenAPI(c *api.Client) TokenAPI { return vaultTokens{c} }

type vaultTokens struct{ c *api.Client }

// RenewSelf's error is a *vault.Error: failure.Unreachable (no answer,
// 5xx, 429, an answer without auth data), or failure.RenewRefused (any
// other answer, and the 500s that say the login role is gone). Waiting does
// not help a refused renewal; logging in again might.
func (v vaultTokens) RenewSelf(ctx context.Context, token string) (*api.Secret, error) {
	secret, err := vault.Call(ctx, v.c, vault.Request{Op: "token renewal", Path: "auth/token/renew-self", Token: token, Refused: failure.RenewRefused})
	var e *vault.Error
	if errors.As(err, &e) && e.Status >= 500 && isRoleGone(e.Errors) {
		e.Kind = failure.RenewRefused
	}
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.Auth == nil {
		return nil, fmt.Errorf("%w: vault answered renew-self without auth data", failure.Unreachable)
	}
	return secret, nil
}

func (v vaultTokens) RevokeSelf(ctx context.Context, token string) error {
	_, err := vault.Call(ctx, v.c, vault.Request{Op: "token revocation", Path: "auth/token/revoke-self", Token: token, Refused: failure.Refused, NoAnswer: true})
	return err
}

// LookupSelf's error is a *vault.Error: failure.Unreachable, or
// failure.RenewRefused for a token Vault does not know (any other answer).
func (v vaultTokens) LookupSelf(ctx context.Context, token string) (*api.Secret, error) {
	secret, err := vault.Call(ctx, v.c, vault.Request{Op: "token lookup", Path: "auth/token/lookup-self", Token: token, Read: true, Refused: failure.RenewRefused})
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.Data == nil {
		return nil, fmt.Errorf("%w: vault answered lookup-self without data", failure.Unreachable)
	}
	return secret, nil
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
	return failure.Of(err), vault.RetryAfter(err)
}
