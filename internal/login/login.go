package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/sink"
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

// vaultTimeout bounds one request to Vault, answer included.
const vaultTimeout = 30 * time.Second

// NewVaultClient builds a vault/api client from the typed config. Its own
// retries are off: the lifecycle owns retrying. It carries no token. Every
// error answer it receives is redacted before vault/api reads it
// (redactErrorBody), so errors from its calls never carry back a secret
// the request sent. Each request is bounded by vaultTimeout through the
// HTTP client rather than vault/api's own timeout, which cancels the
// request's context as the call returns, before the answer's body is read:
// the connection was then closed and every renewal dialled Vault anew.
func NewVaultClient(v config.Vault) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client defaults: %w", cfg.Error)
	}
	cfg.Address = v.Address
	cfg.MaxRetries = 0
	cfg.Timeout = 0
	cfg.HttpClient.Timeout = vaultTimeout
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
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %w", v.Address, err)
	}
	c = c.WithResponseCallbacks(redactErrorBody)
	c.ClearToken()
	c.SetNamespace(v.Namespace)
	return c, nil
}

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

// Login signs a fresh GetCallerIdentity and logs in. The error wraps
// ErrCredentials, ErrUnreachable or ErrRefused (a *Refusal).
func (c *Client) Login(ctx context.Context) (*api.Secret, error) {
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		if !errors.Is(err, ErrCredentials) {
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
	path := loginPath(c.auth.Mount)
	c.log.Debug("logging in", zap.String(fieldMount, c.auth.Mount), zap.String(fieldRole, c.auth.Role),
		zap.String(fieldRegion, t.Region), zap.String(fieldEndpoint, t.Endpoint))
	secret, err := postLogin(ctx, c.vault, path, data, c.now, func(status int, errs []string) *Refusal {
		if status >= 500 {
			return nil // IAM logins get no permanent 5xx: retry
		}
		return Diagnose(status, errs, c.auth.Mount, c.auth.Role, t)
	})
	if err != nil {
		return nil, err
	}
	c.log.Info("logged in", zap.String(fieldAccessor, secret.Auth.Accessor), zap.Strings(fieldPolicies, secret.Auth.Policies),
		zap.Duration(fieldTTL, time.Duration(secret.Auth.LeaseDuration)*time.Second), zap.String(fieldRole, c.auth.Role))
	return secret, nil
}

// loginPath is the login endpoint of the aws auth method at mount.
func loginPath(mount string) string {
	return "auth/" + strings.Trim(mount, "/") + "/login"
}

// postLogin posts a login body to path and classifies the outcome: a
// *Unavailable (5xx, 429), an error wrapping ErrUnreachable (no answer, or
// an answer without a token), or the *Refusal that diagnose makes of any
// other answer. diagnose is asked about 5xx answers too: it returns nil
// unless it knows the message to be permanent (Vault answers some refusals
// with a 500), which then is a refusal rather than an outage. It uses the
// raw call so a 429/503's Retry-After header is not lost. Both auth types
// log in through it.
func postLogin(ctx context.Context, vc *api.Client, path string, data map[string]any, now func() time.Time, diagnose func(status int, vaultErrs []string) *Refusal) (*api.Secret, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode login body: %w", err)
	}
	resp, err := vc.Logical().WriteRawWithContext(ctx, path, body)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		var re *api.ResponseError
		if !errors.As(err, &re) {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, vc.Address(), err)
		}
		if re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests {
			if re.StatusCode >= 500 {
				if r := diagnose(re.StatusCode, re.Errors); r != nil {
					return nil, r
				}
			}
			u := &Unavailable{Status: re.StatusCode, Errors: re.Errors}
			if resp != nil {
				u.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now())
			}
			return nil, u
		}
		return nil, diagnose(re.StatusCode, re.Errors)
	}
	secret, err := api.ParseSecret(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: decode vault's login answer: %v", ErrUnreachable, err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%w: vault answered the login on %s without a token", ErrUnreachable, path)
	}
	return secret, nil
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date);
// 0 when absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
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

// Unavailable is a 5xx or 429 from Vault: worth retrying later.
type Unavailable struct {
	Status     int
	Errors     []string
	RetryAfter time.Duration // 0 when Vault sent none
}

func (u *Unavailable) Error() string {
	return fmt.Sprintf("vault unavailable (HTTP %d): %s", u.Status, strings.Join(u.Errors, "; "))
}

func (u *Unavailable) Unwrap() error { return ErrUnreachable }

// TokenOf converts a login or renewal answer into what sinks write. A
// lease_duration beyond what a Duration holds (292 years) is capped there
// rather than wrapping around to a negative TTL; a negative one counts as
// 0 (no lease).
func TokenOf(s *api.Secret, issued time.Time) sink.Token {
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	ttl := time.Duration(min(max(int64(s.Auth.LeaseDuration), 0), maxSeconds)) * time.Second
	return sink.Token{
		Token:         s.Auth.ClientToken,
		Accessor:      s.Auth.Accessor,
		Policies:      s.Auth.Policies,
		LeaseDuration: ttl,
		Renewable:     s.Auth.Renewable,
		ExpiresAt:     issued.Add(ttl).UTC(),
	}
}
