package login

import (
	"errors"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/failure"
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
			if !errors.Is(r, failure.Refused) {
				t.Fatal("refusal does not wrap failure.Refused")
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

func TestDiagnoseEC2(t *testing.T) {
	a := EC2Attempt{Mount: "aws", Role: "web", Signature: "rsa2048", NonceFile: "/var/lib/xauth-agent/nonce",
		Doc: InstanceIdentity{InstanceID: "i-0abc", AccountID: "222222222222", Region: "eu-west-1", ImageID: "ami-1", PendingTime: "2026-01-02T03:04:05Z"}}
	noRole := a
	noRole.Role = ""
	tests := []struct {
		name   string
		status int
		msg    string
		a      EC2Attempt
		want   []string // substrings of Cause+Fix
		kind   error
	}{
		{"nonce mismatch", 400, "client nonce mismatch", a,
			[]string{"instance i-0abc already logged in", "/var/lib/xauth-agent/nonce", "vault delete auth/aws/identity-accesslist/i-0abc", "put the old nonce back"}, failure.NonceMismatch},
		{"nonce mismatch with migration", 400, "client nonce mismatch and instance meta-data incorrect", a, []string{"pendingTime is not newer"}, failure.NonceMismatch},
		{"reauthentication disabled", 400, "reauthentication is disabled", a, []string{"disallow_reauthentication=false on auth/aws/role/web", "identity-accesslist/i-0abc"}, nil},
		{"older document", 400, "instance meta-data is older than the one used for previous login", a, []string{"2026-01-02T03:04:05Z", "identity-accesslist/i-0abc"}, nil},
		{"iam role", 400, "auth method ec2 not allowed for role web", a, []string{`role "web" has auth_type=iam`}, nil},
		{"account bind", 400, `Error validating instance: account ID "222222222222" does not belong to role "web"`, a,
			[]string{`its account ID is "222222222222"`, "bound_account_id", "auth/aws/role/web"}, nil},
		{"profile bind", 400, `Error validating instance: IAM instance profile ARN "arn:aws:iam::222222222222:instance-profile/p" does not satisfy the constraint role "web"`, a,
			[]string{"bound_iam_instance_profile_arn", "instance-profile/p"}, nil},
		{"subnet bind", 400, `Error validating instance: subnet ID "subnet-1" does not satisfy the constraint on role "web"`, a, []string{"bound_subnet_id"}, nil},
		{"region bind", 400, `Region "eu-west-1" does not satisfy the constraint on role "web"`, a, []string{"bound_region", `"eu-west-1"`}, nil},
		{"describe instances", 400, `failed to verify instance ID: error fetching description for instance ID "i-0abc"`, a,
			[]string{"ec2:DescribeInstances", "account 222222222222", "auth/aws/config/sts/222222222222"}, nil},
		{"signature as a 500", 500, "failed to verify the signature: crypto/rsa: verification error", a, []string{`signature = "rsa2048"`, "config/certificate"}, nil},
		{"role not found", 400, `entry for role "web" not found`, a, []string{`role "web" does not exist`}, nil},
		{"role not found, none sent", 400, `entry for role "ami-1" not found`, noRole, []string{"named after the AMI ID ami-1", "set role"}, nil},
		{"no mount", 404, `no handler for route "auth/aws/login"`, a, []string{"no auth method is mounted at auth/aws"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DiagnoseEC2(tt.status, []string{tt.msg}, tt.a)
			if r == nil {
				t.Fatal("no diagnosis")
			}
			if failure.Of(r).Retry() != failure.LoginSlowly {
				t.Errorf("refusal of kind %v, which is not a refused login", failure.Of(r))
			}
			if tt.kind != nil && !errors.Is(r, tt.kind) {
				t.Errorf("refusal does not wrap %v", tt.kind)
			}
			if tt.kind == nil && errors.Is(r, failure.NonceMismatch) {
				t.Error("refusal wraps failure.NonceMismatch")
			}
			got := r.Cause + "\n" + r.Fix
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("diagnosis lacks %q:\n%s", w, got)
				}
			}
		})
	}
	if r := DiagnoseEC2(500, []string{"internal error"}, a); r != nil {
		t.Errorf("an unknown 500 is diagnosed as a refusal: %v", r)
	}
}
