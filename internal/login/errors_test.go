package login

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDiagnose(t *testing.T) {
	tgt := SigningTarget{Endpoint: "https://sts.amazonaws.com", Region: "us-west-2", HeaderValue: "wrong"}
	tests := []struct {
		name   string
		status int
		msg    string
		want   []string // substrings of Cause+Fix
	}{
		{"header mismatch", 400, `error validating X-Vault-AWS-IAM-Server-ID header: expected "vault.example.com" but got "wrong"`,
			[]string{`expects X-Vault-AWS-IAM-Server-ID "vault.example.com"`, `sent "wrong"`, `header_value = "vault.example.com"`}},
		{"header missing", 400, `error validating X-Vault-AWS-IAM-Server-ID header: missing header "X-Vault-AWS-IAM-Server-ID"`,
			[]string{"sent none", "iam_server_id_header_value"}},
		{"not bound", 400, `IAM Principal "arn:aws:sts::222222222222:assumed-role/vault-secondary-role1/i-1" does not belong to the role "vault-role2"`,
			[]string{"arn:aws:iam::222222222222:role/vault-secondary-role1", `role "vault-role2"`, "IAM path", "auth/aws/role/vault-role2"}},
		{"role not found", 400, `entry for role nope not found`, []string{`role "nope" does not exist`, "vault list auth/aws/role"}},
		{"region", 400, `error making upstream request: received error code 403 from STS: <ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Credential should be scoped to a valid region, not 'us-west-2'. </Message></Error></ErrorResponse>`,
			[]string{`signed for region "us-west-2"`, "use_sts_region_from_client"}},
		{"clock", 400, `received error code 403 from STS: Signature expired: 20261125T100000Z is now earlier than`, []string{"clock"}},
		{"no mount", 404, `no handler for route "auth/nope/login". route entry not found.`, []string{"auth/aws"}},
		{"ec2 role", 400, `auth method iam not allowed for role "ec2role"`, []string{"auth_type=ec2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Diagnose(tt.status, []string{tt.msg}, "aws", "vault-role2", tgt)
			if !errors.Is(r, ErrRefused) {
				t.Fatal("refusal does not wrap ErrRefused")
			}
			got := r.Cause + "\n" + r.Fix
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("diagnosis lacks %q:\n%s", w, got)
				}
			}
			if !strings.Contains(r.Error(), tt.msg) {
				t.Errorf("error text drops Vault's own words: %s", r.Error())
			}
		})
	}
}

func TestDeriveRoleARN(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::222222222222:assumed-role/secondary-role2/i-2": "arn:aws:iam::222222222222:role/secondary-role2",
		"arn:aws-cn:sts::1:assumed-role/r/s":                         "arn:aws-cn:iam::1:role/r",
		"arn:aws:iam::111111111111:user/vault-primary":               "arn:aws:iam::111111111111:user/vault-primary",
		"garbage": "garbage",
	} {
		if got := DeriveRoleARN(in); got != want {
			t.Errorf("DeriveRoleARN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"junk":                          0,
		"Wed, 25 Nov 2026 12:01:00 GMT": time.Minute,
		"Wed, 25 Nov 2026 11:00:00 GMT": 0,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
