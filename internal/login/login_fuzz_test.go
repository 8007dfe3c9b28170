package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
	"github.com/xauth-agent/xauth-agent/internal/vaulttest"
)

// FuzzLoginResponse feeds arbitrary Vault answers (status, Retry-After,
// body) to a whole IAM login, through vault/api's decoding and the
// client's classification, then converts a success with token.Of and
// encodes it as the sinks do. It must never panic; a success carries a
// token; a failure is failure.Unreachable (a 429/5xx as a *vault.Error
// with its status, or an answer without a token) or a refusal (a
// *vault.Error of kind failure.Refused) with its status.
func FuzzLoginResponse(f *testing.F) {
	ok := `{"request_id":"1","lease_id":"","renewable":false,"lease_duration":0,"data":null,"wrap_info":null,"warnings":null,` +
		`"auth":{"client_token":"hvs.CAESIJ","accessor":"acc","policies":["admin","default"],"token_policies":["admin","default"],` +
		`"metadata":{"role":"vault-role"},"lease_duration":2764800,"renewable":true,"entity_id":"e","token_type":"service","orphan":true}}`
	f.Add(uint8(0), "", []byte(ok))
	f.Add(uint8(0), "", []byte(`{"auth":{"client_token":"","lease_duration":60}}`))
	f.Add(uint8(0), "", []byte(`{"auth":{"client_token":"t","lease_duration":-5}}`))
	f.Add(uint8(0), "", []byte(`{"auth":{"client_token":"t","lease_duration":9223372036854775807}}`))
	f.Add(uint8(0), "", []byte(`{"auth":{"client_token":"t\u0000\ud800","accessor":"\xff","policies":[null,"\u2028"]}}`))
	f.Add(uint8(0), "", []byte(`{"auth":null}`))
	f.Add(uint8(0), "", []byte(`null`))
	f.Add(uint8(1), "", []byte(``))
	f.Add(uint8(0), "", []byte(`{"auth":{"client_token":1}}`))
	f.Add(uint8(2), "", []byte(`{"errors":["error performing token check: IAM Principal \"arn:aws:sts::222222222222:assumed-role/r/i-1\" does not belong to the role \"vault-role2\""]}`))
	f.Add(uint8(2), "", []byte(`{"errors":["expected \"a\" but got \"b\" for X-Vault-AWS-IAM-Server-ID"]}`))
	f.Add(uint8(5), "", []byte(`{"errors":["no handler for route \"auth/nope/login\""]}`))
	f.Add(uint8(8), "30", []byte(`{"errors":["rate limit quota exceeded"]}`))
	f.Add(uint8(11), "Wed, 21 Oct 2026 07:28:00 GMT", []byte(`{"errors":["Vault is sealed"]}`))
	f.Add(uint8(9), "99999999999999999999", []byte(`<html>bad gateway</html>`))
	f.Add(uint8(4), "", []byte(`{"errors":null}`))

	auth := config.Auth{Method: "aws", Type: "iam", Role: "vault-role", Mount: "aws", HeaderValue: "vault.example",
		STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com"}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIAFUZZ", SecretAccessKey: "fuzz-secret", SessionToken: "fuzz-session", Source: "fuzz"}, nil
	})
	issued := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, statusIdx uint8, retryAfter string, body []byte) {
		status := vaulttest.Statuses[int(statusIdx)%len(vaulttest.Statuses)]
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		c := New(vaulttest.Client(t, vaulttest.Answer{Status: status, Header: h, Body: body}), creds, auth, func() time.Time { return issued }, zap.NewNop())
		secret, err := c.Login(context.Background())
		if err != nil {
			checkLoginError(t, status, err)
			return
		}
		if status >= 300 {
			t.Fatalf("HTTP %d taken for a successful login", status)
		}
		if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
			t.Fatalf("a successful login without a token: %+v", secret)
		}
		tok := token.Of(secret, issued)
		if tok.Token != secret.Auth.ClientToken || tok.Accessor != secret.Auth.Accessor || !slices.Equal(tok.Policies, secret.Auth.Policies) ||
			tok.Renewable != secret.Auth.Renewable {
			t.Fatalf("token.Of changed the answer: %+v from %+v", tok, secret.Auth)
		}
		if lease := secret.Auth.LeaseDuration; lease >= 0 && lease <= 100*365*24*3600 {
			if tok.LeaseDuration != time.Duration(lease)*time.Second || !tok.ExpiresAt.Equal(issued.Add(tok.LeaseDuration)) {
				t.Fatalf("lease %ds gave LeaseDuration %v, ExpiresAt %v", lease, tok.LeaseDuration, tok.ExpiresAt)
			}
		}
		// Vault's JSON always decodes to valid UTF-8, so every sink format
		// but env (which refuses a NUL byte) can hold the token.
		for _, format := range []string{"token", "json", "env"} {
			if _, err := sink.Encode(format, tok); err != nil && (format != "env" || !strings.Contains(tok.Token, "\x00")) {
				t.Fatalf("%s format: %v", format, err)
			}
		}
	})
}

func checkLoginError(t *testing.T, status int, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" {
		t.Fatal("an error without a message")
	}
	var e *vault.Error
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		if !errors.As(err, &e) || e.Status != status || failure.Of(err) != failure.Unreachable {
			t.Fatalf("HTTP %d: %v (%T), want an unavailable Vault with the status", status, err, err)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("HTTP %d: negative Retry-After %v", status, e.RetryAfter)
		}
	case status >= 400:
		if !errors.As(err, &e) || e.Status != status || failure.Of(err) != failure.Refused || errors.Is(err, failure.Unreachable) {
			t.Fatalf("HTTP %d: %v (%T), want a refusal with the status", status, err, err)
		}
		if !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(status)) {
			t.Fatalf("HTTP %d: the refusal does not name the status: %v", status, err)
		}
	default: // a 2xx that carries no token, or does not decode
		if !errors.Is(err, failure.Unreachable) || errors.Is(err, failure.Refused) {
			t.Fatalf("HTTP %d: %v (%T), want failure.Unreachable", status, err, err)
		}
	}
}

// FuzzDiagnose feeds arbitrary refusal messages, mounts and roles to
// Diagnose. It must never panic, keep the status and Vault's messages
// verbatim, wrap failure.Refused, and show every message in Error().
func FuzzDiagnose(f *testing.F) {
	for _, msg := range []string{
		`error performing token check: IAM Principal "arn:aws:sts::222222222222:assumed-role/r/i-1" does not belong to the role "vault-role2"`,
		`error validating X-Vault-AWS-IAM-Server-ID header: expected "a" but got "b"`,
		`error validating X-Vault-AWS-IAM-Server-ID header: missing header "X-Vault-AWS-IAM-Server-ID"`,
		`entry for role "nope" not found`,
		`entry for role nope not found`,
		`auth method iam not allowed for role ec2role`,
		`error making upstream request: Credential should be scoped to a valid region, not 'us-west-2'.`,
		"Signature expired: 20260101T000000Z is now earlier than",
		"ExpiredToken", "SignatureDoesNotMatch", `no handler for route "auth/x/login"`,
		"error looking up full ARN", "permission denied",
		`IAM Principal "" does not belong to the role ""`, "arn:aws:sts::1:assumed-role", "\xff\x00",
	} {
		f.Add(400, msg, "aws", "vault-role")
	}
	f.Add(403, "a\nb", "", "")
	f.Add(-1, "", "/", "\xff")

	f.Fuzz(func(t *testing.T, status int, msgs, mount, role string) {
		vaultErrs := strings.Split(msgs, "\n")
		target := SigningTarget{Endpoint: "https://sts.amazonaws.com", Region: "us-east-1", HeaderValue: "h"}
		r := Diagnose(status, vaultErrs, mount, role, target)
		if r == nil {
			t.Fatal("Diagnose returned nil")
		}
		if r.Status != status || !slices.Equal(r.Errors, vaultErrs) {
			t.Fatalf("Diagnose changed what Vault said: %d %q", r.Status, r.Errors)
		}
		if !errors.Is(r, failure.Refused) {
			t.Fatal("the refusal does not wrap failure.Refused")
		}
		msg := r.Error()
		if !strings.Contains(msg, strings.Join(vaultErrs, "; ")) || !strings.Contains(msg, fmt.Sprintf("HTTP %d", status)) {
			t.Fatalf("Error() hides what Vault said: %q", msg)
		}
		if r.Fix != "" && r.Cause == "" {
			t.Fatalf("a fix without a cause: %q", r.Fix)
		}
	})
}
