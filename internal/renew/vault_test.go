package renew

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// vaultAt returns a client for srv the way vault.NewClient builds one:
// no retries, no token, a namespace.
func vaultAt(t *testing.T, url string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = url
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	c.SetNamespace("team-a")
	return c
}

type seen struct {
	method, path, token, namespace string
	body                           map[string]any
}

// fakeTokenServer answers every request with status, extra headers and body,
// and records what it was sent.
func fakeTokenServer(t *testing.T, status int, header map[string]string, body string) (*httptest.Server, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.token, got.namespace = r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Namespace")
		b, _ := io.ReadAll(r.Body)
		got.body = nil
		if len(b) > 0 {
			if err := json.Unmarshal(b, &got.body); err != nil {
				t.Errorf("request body %q: %v", b, err)
			}
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func vaultErrors(msgs ...string) string {
	b, _ := json.Marshal(map[string][]string{"errors": msgs})
	return string(b)
}

func TestRenewSelf(t *testing.T) {
	srv, got := fakeTokenServer(t, 200, nil,
		`{"auth":{"client_token":"hvs.tok","accessor":"acc-1","policies":["default"],"lease_duration":60,"renewable":true},
		  "warnings":["TTL of \"60s\" exceeded the effective max_ttl of \"40s\"; TTL value is capped accordingly"]}`)
	c := vaultAt(t, srv.URL)
	secret, err := NewTokenAPI(c).RenewSelf(context.Background(), "hvs.tok")
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPut || got.path != "/v1/auth/token/renew-self" {
		t.Errorf("request %s %s, want PUT /v1/auth/token/renew-self", got.method, got.path)
	}
	if got.token != "hvs.tok" {
		t.Errorf("X-Vault-Token %q, want the token being renewed", got.token)
	}
	if got.namespace != "team-a" {
		t.Errorf("X-Vault-Namespace %q, want the client's namespace", got.namespace)
	}
	if _, ok := got.body["increment"]; ok {
		t.Errorf("body %v sends an increment; Vault should apply the role's TTL", got.body)
	}
	if c.Token() != "" {
		t.Errorf("the shared client now carries a token")
	}
	if secret.Auth.LeaseDuration != 60 || !secret.Auth.Renewable || secret.Auth.Accessor != "acc-1" || len(secret.Warnings) != 1 {
		t.Errorf("secret = %+v", secret.Auth)
	}
}

func TestRevokeSelf(t *testing.T) {
	srv, got := fakeTokenServer(t, 204, nil, "")
	if err := NewTokenAPI(vaultAt(t, srv.URL)).RevokeSelf(context.Background(), "hvs.old"); err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/auth/token/revoke-self" || got.token != "hvs.old" {
		t.Errorf("request %s as %q, want revoke-self as hvs.old", got.path, got.token)
	}

	srv, _ = fakeTokenServer(t, 403, nil, vaultErrors("permission denied"))
	err := NewTokenAPI(vaultAt(t, srv.URL)).RevokeSelf(context.Background(), "hvs.old")
	if err == nil || failure.Of(err) == failure.RenewRefused || !strings.Contains(err.Error(), "vault refused the token revocation (HTTP 403)") {
		t.Errorf("revoke of an expired token: %v, want a refused revocation, not a refused renewal", err)
	}
}

func TestRenewSelfErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		kind       failure.Kind
		retryAfter time.Duration
	}{
		{"expired or revoked token", 403, nil, vaultErrors("permission denied"), failure.RenewRefused, 0},
		{"role deleted", 500, nil, vaultErrors("failed to renew entry: role entry not found"), failure.RenewRefused, 0},
		{"role no longer binds the instance", 500, nil,
			vaultErrors(`role "app" no longer bound to ARN "arn:aws:iam::222222222222:role/app"`), failure.RenewRefused, 0},
		{"lease not renewable", 400, nil, vaultErrors("lease is not renewable"), failure.RenewRefused, 0},
		{"internal error", 500, nil, vaultErrors("internal error"), failure.Unreachable, 0},
		{"sealed", 503, map[string]string{"Retry-After": "7"}, vaultErrors("Vault is sealed"), failure.Unreachable, 7 * time.Second},
		{"rate limited", 429, map[string]string{"Retry-After": "30"}, vaultErrors("request path \"auth/token/renew-self\": rate limit quota exceeded"), failure.Unreachable, 30 * time.Second},
		{"proxy error page", 502, nil, "<html>bad gateway</html>", failure.Unreachable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeTokenServer(t, tt.status, tt.header, tt.body)
			_, err := NewTokenAPI(vaultAt(t, srv.URL)).RenewSelf(context.Background(), "hvs.tok")
			if err == nil {
				t.Fatal("no error")
			}
			kind, ra := Classify(err)
			if kind != tt.kind || ra != tt.retryAfter {
				t.Errorf("Classify(%v) = %v, %v; want %v, %v", err, kind, ra, tt.kind, tt.retryAfter)
			}
		})
	}
}

func TestRenewSelfUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := NewTokenAPI(vaultAt(t, url)).RenewSelf(context.Background(), "hvs.tok")
	if !errors.Is(err, failure.Unreachable) {
		t.Fatalf("error %v does not wrap failure.Unreachable", err)
	}
	if kind, _ := Classify(err); kind != failure.Unreachable {
		t.Errorf("kind %v, want transient", kind)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		kind       failure.Kind
		retryAfter time.Duration
	}{
		{"nil", nil, failure.None, 0},
		{"login refusal", &vault.Error{Op: "login", Kind: failure.Refused, Status: 400, Errors: []string{"entry for role x not found"}}, failure.Refused, 0},
		{"wrapped refusal", fmt.Errorf("login: %w", failure.Refused), failure.Refused, 0},
		{"credentials", fmt.Errorf("%w: imds timeout", failure.Credentials), failure.Credentials, 0},
		{"unavailable with Retry-After", &vault.Error{Kind: failure.Unreachable, Status: 429, RetryAfter: 30 * time.Second}, failure.Unreachable, 30 * time.Second},
		{"wrapped unavailable", fmt.Errorf("x: %w", &vault.Error{Kind: failure.Unreachable, Status: 503, RetryAfter: time.Second}), failure.Unreachable, time.Second},
		{"unreachable", fmt.Errorf("%w: dial tcp: refused", failure.Unreachable), failure.Unreachable, 0},
		{"cancelled", context.Canceled, failure.Runtime, 0},
		{"deadline", fmt.Errorf("login: %w", context.DeadlineExceeded), failure.Unreachable, 0},
		{"unknown", errors.New("something odd"), failure.Runtime, 0},
		{"renew refused", fmt.Errorf("renew: %w", &vault.Error{Op: "token renewal", Kind: failure.RenewRefused, Status: 403}), failure.RenewRefused, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, ra := Classify(tt.err)
			if kind != tt.kind || ra != tt.retryAfter {
				t.Errorf("Classify = %v, %v; want %v, %v", kind, ra, tt.kind, tt.retryAfter)
			}
		})
	}
}

// TestRenewSelfConcurrent: calls with different tokens each send their own.
func TestRenewSelfConcurrent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"auth":{"client_token":%q,"lease_duration":60,"renewable":true}}`, r.Header.Get("X-Vault-Token"))
	}))
	defer srv.Close()
	tokens := NewTokenAPI(vaultAt(t, srv.URL))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			want := fmt.Sprintf("hvs.tok-%d", i)
			s, err := tokens.RenewSelf(context.Background(), want)
			if err != nil || s.Auth.ClientToken != want {
				t.Errorf("renewed %q as %v, %v", want, s, err)
			}
		})
	}
	wg.Wait()
}

// Renewal and revocation answered by something that echoes the request
// (the token in X-Vault-Token): the errors, which the daemon logs as warn
// lines, show what happened but not the token.
func TestTokenErrorsFromAnEchoingServer(t *testing.T) {
	const token = "hvs.CAESIEchoedBackTokenValueThatMustNotLeak0123456789"
	for _, status := range []int{http.StatusForbidden, http.StatusBadRequest, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dump, _ := httputil.DumpRequest(r, true)
			w.WriteHeader(status)
			_, _ = w.Write(dump)
		}))
		vc, err := vault.NewClient(config.Vault{Addresses: []string{srv.URL}}, config.Lifecycle{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens := NewTokenAPI(vc)
		_, renewErr := tokens.RenewSelf(context.Background(), token)
		revokeErr := tokens.RevokeSelf(context.Background(), token)
		srv.Close()
		for name, err := range map[string]error{"renew": renewErr, "revoke": revokeErr} {
			if err == nil {
				t.Fatalf("status %d: %s succeeded", status, name)
			}
			if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, "CAESIEchoed") || !strings.Contains(msg, "X-Vault-Token: [redacted]") {
				t.Errorf("status %d: %s error shows the token, or not the redacted echo:\n%s", status, name, msg)
			}
		}
	}
}

// lookup-self is a GET: the default policy grants only "read" on it.
func TestLookupSelf(t *testing.T) {
	srv, got := fakeTokenServer(t, 200, nil, `{"data":{"accessor":"acc-1","ttl":3000,"creation_ttl":3600,"path":"auth/aws/login","renewable":true}}`)
	secret, err := NewTokenAPI(vaultAt(t, srv.URL)).LookupSelf(context.Background(), "hvs.kept")
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.path != "/v1/auth/token/lookup-self" || got.token != "hvs.kept" {
		t.Errorf("request %s %s as %q, want GET lookup-self as hvs.kept", got.method, got.path, got.token)
	}
	if ttl, _ := secret.TokenTTL(); ttl != 3000*time.Second {
		t.Errorf("ttl %v", ttl)
	}
	srv, _ = fakeTokenServer(t, 403, nil, vaultErrors("permission denied"))
	if _, err := NewTokenAPI(vaultAt(t, srv.URL)).LookupSelf(context.Background(), "hvs.gone"); failure.Of(err) != failure.RenewRefused {
		t.Errorf("lookup of a revoked token: %v, want a refusal", err)
	}
}
