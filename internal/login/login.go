package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// Log field names.
const (
	fieldAccessor = "accessor"
	fieldRole     = "role"
	fieldMount    = "mount"
	fieldTTL      = "ttl"
	fieldPolicies = "policies"
	fieldRegion   = "sts_region"
	fieldEndpoint = "sts_endpoint"
	fieldCredSrc  = "credentials_source"
)

// Client logs in with the IAM method.
type Client struct {
	vault *api.Client
	creds aws.CredentialsProvider
	auth  config.Auth
	now   func() time.Time
	log   *zap.Logger
}

// New returns a login client. now may be nil (time.Now).
func New(vault *api.Client, creds aws.CredentialsProvider, auth config.Auth, now func() time.Time, log *zap.Logger) *Client {
	if now == nil {
		now = time.Now
	}
	return &Client{vault: vault, creds: creds, auth: auth, now: now, log: log}
}

// Target is where this client signs.
func (c *Client) Target() SigningTarget {
	return SigningTarget{Endpoint: c.auth.STSEndpoint, Region: c.auth.STSRegion, HeaderValue: c.auth.HeaderValue}
}

// Login signs a fresh GetCallerIdentity and logs in. The error is of the
// kind failure.Credentials, failure.Unreachable or failure.Refused (a
// *vault.Error with Diagnose's reading).
func (c *Client) Login(ctx context.Context) (*api.Secret, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		if !errors.Is(err, failure.Credentials) {
			err = credentialsError(err, chain{})
		}
		return nil, err
	}
	c.log.Debug("aws credentials retrieved", zap.String(fieldCredSrc, creds.Source), zap.Time("expires", creds.Expires))
	t := c.Target()
	data, err := IAMLoginData(ctx, creds, t, c.auth.Role, c.now())
	if err != nil {
		return nil, err
	}
	c.log.Debug("logging in", zap.String(fieldMount, c.auth.Mount), zap.String(fieldRole, c.auth.Role),
		zap.String(fieldRegion, t.Region), zap.String(fieldEndpoint, t.Endpoint))
	secret, err := postLogin(ctx, c.vault, c.auth.Mount, data, func(status int, errs []string) *vault.Error {
		if status >= 500 {
			return nil // IAM logins get no permanent 5xx: retry
		}
		return Diagnose(status, errs, c.auth.Mount, c.auth.Role, t)
	})
	if err != nil {
		return nil, err
	}
	c.log.Info("logged in", zap.String(fieldAccessor, secret.Auth.Accessor), zap.Strings(fieldPolicies, secret.Auth.Policies),
		zap.Duration(fieldTTL, token.LeaseTTL(secret.Auth.LeaseDuration)), zap.String(fieldRole, c.auth.Role))
	return secret, nil
}

// postLogin posts a login body to the aws auth method at mount
// (vault.Call) and makes sure the answer carries a token. A refusal (4xx
// other than 429) is what diagnose makes of it; diagnose is asked about 5xx
// answers too, and returns nil unless it knows the message to be permanent
// (Vault answers some refusals with a 500), which then is a refusal rather
// than an outage. Both auth types log in through it.
func postLogin(ctx context.Context, vc *api.Client, mount string, data map[string]any, diagnose func(status int, vaultErrs []string) *vault.Error) (*api.Secret, error) {
	path := "auth/" + strings.Trim(mount, "/") + "/login"
	secret, err := vault.Call(ctx, vc, vault.Request{Op: "login", Path: path, Body: data, Refused: failure.Refused})
	var e *vault.Error
	if errors.As(err, &e) && e.Status >= 400 && e.Status != http.StatusTooManyRequests {
		if r := diagnose(e.Status, e.Errors); r != nil {
			return nil, r
		}
	}
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%w: vault answered the login on %s without a token", failure.Unreachable, path)
	}
	return secret, nil
}
