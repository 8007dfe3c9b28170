package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

const testHeader = "vault.example.internal:8200"

func testConfig(vaultAddr string) *config.Config {
	return &config.Config{
		Vault: config.Vault{Addresses: []string{vaultAddr}},
		Auth: config.Auth{Method: "aws", Type: "iam", Role: "vault-role", Mount: "aws", HeaderValue: testHeader,
			STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com"},
		Log: config.Log{Level: "info", Format: "json"},
	}
}

func wildcardRole(patterns ...string) map[string]any {
	return map[string]any{"auth_type": "iam", "bound_iam_principal_arn": patterns, "bound_iam_principal_id": []string{}, "resolve_aws_unique_ids": true}
}

// scenario is one diagnosis against the fakes.
type scenario struct {
	name     string
	imds     string // "ok", "hang", "norole", "" (environment credentials)
	operator string
	setup    func(*config.Config, *fakeAWS, *fakeVault, *Options)
	want     map[string]Status
	wantText []string // substrings of the text report
	first    string   // the first failed step, "" when none
	kind     failure.Kind
}

func TestRun(t *testing.T) {
	tests := []scenario{
		{
			name: "everything passes with instance credentials", imds: "ok", operator: testOperator,
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				v.role = wildcardRole("arn:aws:iam::222222222222:role/vault-secondary*")
				v.clientConfig = map[string]any{"iam_server_id_header_value": testHeader, "sts_endpoint": "", "sts_region": ""}
			},
			want: map[string]Status{StepConfig: Pass, StepIMDS: Pass, StepIMDSToken: Pass, StepCredentials: Pass, StepIdentity: Pass,
				StepFullARN: Pass, StepSigning: Pass, StepVault: Pass, StepMount: Pass, StepLogin: Pass, StepRole: Pass, StepServerConfig: Pass},
			wantText: []string{"instance role " + testRole, "ASIA...0001", "caller " + testCallerARN,
				"Vault derives the role ARN arn:aws:iam::222222222222:role/" + testRole, "no IAM path",
				"credential scope", "x-vault-aws-iam-server-id", "accessor accessor-1", "the test token was revoked",
				"admitted: wildcard", `the mount expects "` + testHeader + `", and this agent sends it`, "12 passed, 0 warnings, 0 failed"},
		},
		{
			name: "environment credentials skip IMDS", imds: "",
			want: map[string]Status{StepIMDS: Skip, StepIMDSToken: Skip, StepCredentials: Pass, StepIdentity: Pass, StepLogin: Pass,
				StepRole: Skip, StepServerConfig: Skip},
			wantText: []string{"skipped: credentials come from the environment (AWS_ACCESS_KEY_ID)", "set VAULT_TOKEN to a token that may read auth/aws/role/vault-role"},
		},
		{
			name: "the IMDSv2 token PUT never answers", imds: "hang",
			want: map[string]Status{StepIMDS: Pass, StepIMDSToken: Fail, StepCredentials: Fail, StepIdentity: Skip, StepFullARN: Skip,
				StepSigning: Pass, StepVault: Pass, StepMount: Pass, StepLogin: Skip},
			wantText: []string{"got no answer within", "though the connection opened", "--http-put-response-hop-limit 2"},
			first:    StepIMDSToken, kind: failure.Credentials,
		},
		{
			name: "no instance profile", imds: "norole",
			want:     map[string]Status{StepIMDSToken: Pass, StepCredentials: Fail, StepLogin: Skip},
			wantText: []string{"no instance profile is attached", "associate-iam-instance-profile"},
			first:    StepCredentials, kind: failure.Credentials,
		},
		{
			name: "a role under an IAM path against role/name*", imds: "ok", operator: testOperator,
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				a.rolePath = "/team/"
				v.loginErr = `IAM Principal "` + testCallerARN + `" does not belong to the role "vault-role"`
				v.role = wildcardRole("arn:aws:iam::222222222222:role/vault-secondary*", "arn:aws:iam::222222222222:role/secondary*")
				v.clientConfig = map[string]any{"iam_server_id_header_value": testHeader}
			},
			want: map[string]Status{StepIdentity: Pass, StepFullARN: Warn, StepLogin: Fail, StepRole: Fail, StepServerConfig: Pass},
			wantText: []string{
				"the role has the IAM path /team/",
				"principal not bound",
				"no  arn:aws:iam::222222222222:role/vault-secondary*: matches the ARN without its IAM path",
				"full ARN from iam:GetRole, arn:aws:iam::222222222222:role/team/" + testRole + ", which keeps the path",
				"fix: add arn:aws:iam::222222222222:role/team/" + testRole + "* to bound_iam_principal_arn of auth/aws/role/vault-role",
			},
			first: StepLogin, kind: failure.Refused,
		},
		{
			name: "the server ID header differs", imds: "ok", operator: testOperator,
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				c.Auth.HeaderValue = "not-the-server"
				v.loginErr = `error validating X-Vault-AWS-IAM-Server-ID header: expected "` + testHeader + `" but got "not-the-server"`
				v.role = wildcardRole("arn:aws:iam::222222222222:role/vault-secondary*")
				v.clientConfig = map[string]any{"iam_server_id_header_value": testHeader}
			},
			want: map[string]Status{StepLogin: Fail, StepRole: Pass, StepServerConfig: Fail},
			wantText: []string{"server ID header mismatch",
				`the mount expects "` + testHeader + `", this agent is configured with "not-the-server"`,
				`set header_value = "` + testHeader + `"`},
			first: StepLogin, kind: failure.Refused,
		},
		{
			name: "signed for a region the global endpoint refuses", imds: "",
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				c.Auth.STSRegion = "us-west-2"
				v.loginErr = "error making upstream request: received error code 403 from STS: <ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Credential should be scoped to a valid region, not 'us-west-2'. </Message></Error></ErrorResponse>"
			},
			want:     map[string]Status{StepIdentity: Fail, StepFullARN: Skip, StepLogin: Fail},
			wantText: []string{"refused the request signed for region us-west-2 (HTTP 403)", `region mismatch: the request was signed for region "us-west-2"`, "use_sts_region_from_client"},
			first:    StepIdentity, kind: failure.Refused,
		},
		{
			name: "the regional endpoint of the mount differs from the signed region", imds: "", operator: testOperator,
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				v.loginErr = "error making upstream request: received error code 403 from STS: <ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Credential should be scoped to a valid region, not 'us-east-1'. </Message></Error></ErrorResponse>"
				v.role = wildcardRole("arn:aws:iam::222222222222:role/vault-secondary*")
				v.clientConfig = map[string]any{"iam_server_id_header_value": testHeader, "sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "sts_region": "eu-west-1"}
			},
			want:     map[string]Status{StepIdentity: Pass, StepLogin: Fail, StepServerConfig: Fail},
			wantText: []string{"Vault forwards to https://sts.eu-west-1.amazonaws.com, which takes only region eu-west-1 signatures, but this agent signs for us-east-1"},
			first:    StepLogin, kind: failure.Refused,
		},
		{
			name: "Vault cannot reach its STS endpoint", imds: "",
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				v.loginErr = `error making upstream request: error making request: POST https://sts.eu-west-1.amazonaws.com// giving up after 1 attempt(s): dial tcp: lookup sts.eu-west-1.amazonaws.com: no such host`
			},
			want:     map[string]Status{StepLogin: Fail},
			wantText: []string{"cause: Vault could not reach the STS endpoint", "sts_endpoint of auth/aws/config/client"},
			first:    StepLogin, kind: failure.Refused,
		},
		{
			name: "no aws auth method at the mount", imds: "", operator: testOperator,
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) { c.Auth.Mount = "nope" },
			want:  map[string]Status{StepVault: Pass, StepMount: Fail, StepLogin: Skip, StepRole: Skip, StepServerConfig: Skip},
			wantText: []string{"no auth method is enabled at auth/nope (an unauthenticated request there got HTTP 403 permission denied)",
				"aws auth methods here: aws"},
			first: StepMount, kind: failure.Refused,
		},
		{
			name: "Vault unreachable", imds: "",
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				c.Vault.Addresses = []string{"http://127.0.0.1:1"}
			},
			want:     map[string]Status{StepIdentity: Pass, StepVault: Fail, StepMount: Skip, StepLogin: Skip},
			wantText: []string{"http://127.0.0.1:1 did not answer sys/health", "nothing listens there"},
			first:    StepVault, kind: failure.Unreachable,
		},
		{
			name: "the operator token may not read the role", imds: "", operator: "hvs.weak",
			want:     map[string]Status{StepLogin: Pass, StepRole: Skip, StepServerConfig: Skip},
			wantText: []string{"VAULT_TOKEN may not read auth/aws/role/vault-role (permission denied)"},
		},
		{
			name: "iam:GetRole denied", imds: "",
			setup:    func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) { a.denyIAM = true },
			want:     map[string]Status{StepFullARN: Warn, StepLogin: Pass},
			wantText: []string{"AccessDenied", "allow the instance role iam:GetRole on arn:aws:iam::222222222222:role/" + testRole},
		},
		{
			name: "the role does not exist", imds: "", operator: testOperator,
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				c.Auth.Role = "no-such-role"
				v.loginErr = "entry for role no-such-role not found"
			},
			want:     map[string]Status{StepLogin: Fail, StepRole: Fail},
			wantText: []string{`role "no-such-role" does not exist on auth/aws`, "roles there: vault-role, vault-role2"},
			first:    StepLogin, kind: failure.Refused,
		},
		{
			name: "auth type ec2",
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				c.Auth.Type = "ec2"
			},
			want:     map[string]Status{StepConfig: Fail, StepIMDS: Skip, StepLogin: Skip},
			wantText: []string{"diagnose covers the iam type"},
			first:    StepConfig, kind: failure.Config,
		},
		{
			name: "configuration error",
			setup: func(c *config.Config, a *fakeAWS, v *fakeVault, o *Options) {
				o.Config, o.ConfigErr = nil, errors.New("invalid configuration: vault address is not set")
			},
			want:     map[string]Status{StepConfig: Fail, StepVault: Skip},
			wantText: []string{"vault address is not set"},
			first:    StepConfig, kind: failure.Config,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aws := newFakeAWS(t)
			v := newFakeVault(t)
			switch tt.imds {
			case "":
				awsEnv(t, "")
			case "ok", "norole":
				im := newFakeIMDS(t, false)
				im.noRole = tt.imds == "norole"
				awsEnv(t, im.URL)
			case "hang":
				awsEnv(t, newFakeIMDS(t, true).URL)
			}
			cfg := testConfig(v.URL)
			o := Options{Config: cfg, STSEndpoint: aws.URL, IAMEndpoint: aws.URL, OperatorToken: tt.operator,
				IMDSTimeout: 300 * time.Millisecond, Timeout: 5 * time.Second}
			if tt.setup != nil {
				tt.setup(cfg, aws, v, &o)
			}
			rep := Run(context.Background(), o)
			var text, js bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				t.Log("\n" + text.String())
			}
			if len(rep.Steps) != 12 {
				t.Fatalf("%d steps, want 12:\n%s", len(rep.Steps), text.String())
			}
			for name, want := range tt.want {
				got, ok := rep.Step(name)
				if !ok || got.Status != want {
					t.Errorf("step %s: status %q, want %q\n%s", name, got.Status, want, text.String())
				}
			}
			for _, w := range tt.wantText {
				if !strings.Contains(text.String(), w) {
					t.Errorf("text report lacks %q:\n%s", w, text.String())
				}
			}
			f, failed := rep.FirstFailure()
			if f.Name != tt.first || failed != (tt.first != "") || f.Kind != tt.kind {
				t.Errorf("first failure %q (kind %q), want %q (kind %q)\n%s", f.Name, f.Kind, tt.first, tt.kind, text.String())
			}
			for _, secret := range []string{testSecret, testSession, testVaultTok, testOperator, testKeyID, "Signature="} {
				if strings.Contains(text.String(), secret) || strings.Contains(js.String(), secret) {
					t.Errorf("the report shows %q", secret)
				}
			}
			var doc struct {
				OK           bool   `json:"ok"`
				FirstFailure string `json:"first_failure"`
				Steps        []Result
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatalf("JSON report: %v\n%s", err, js.String())
			}
			if doc.OK != (tt.first == "") || doc.FirstFailure != tt.first || len(doc.Steps) != 12 {
				t.Errorf("JSON ok=%v first_failure=%q steps=%d", doc.OK, doc.FirstFailure, len(doc.Steps))
			}
		})
	}
}

// The test login's token is revoked, with that token, and only that one.
func TestRunRevokesTheTestLogin(t *testing.T) {
	a := newFakeAWS(t)
	v := newFakeVault(t)
	awsEnv(t, "")
	Run(context.Background(), Options{Config: testConfig(v.URL), STSEndpoint: a.URL, IAMEndpoint: a.URL, Timeout: 5 * time.Second})
	if v.logins != 1 || len(v.revoked) != 1 || v.revoked[0] != testVaultTok {
		t.Fatalf("logins %d, revoke-self calls with %q", v.logins, v.revoked)
	}
}

// The direct AWS calls keep the Host they are signed for, so a loopback
// fake (or a proxy) sees what AWS would.
func TestRunKeepsTheSignedHost(t *testing.T) {
	a := newFakeAWS(t)
	v := newFakeVault(t)
	awsEnv(t, "")
	Run(context.Background(), Options{Config: testConfig(v.URL), STSEndpoint: a.URL, IAMEndpoint: a.URL, Timeout: 5 * time.Second})
	if strings.Join(a.hosts, ",") != "sts.amazonaws.com,iam.amazonaws.com" {
		t.Fatalf("hosts seen: %v", a.hosts)
	}
}

// The vault step's reading of TLS: an unknown CA, a name the certificate
// does not hold, and a trusted certificate.
func TestRunVaultTLS(t *testing.T) {
	v := newFakeVault(t)
	tlsSrv := httptest.NewUnstartedServer(v.Config.Handler)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	port := tlsSrv.URL[strings.LastIndex(tlsSrv.URL, ":")+1:]
	tests := []struct {
		name   string
		vault  config.Vault
		status Status
		want   []string
	}{
		{"unknown CA", config.Vault{Addresses: []string{tlsSrv.URL}}, Fail, []string{"certificate signed by unknown authority", "set vault.ca_cert (VAULT_CACERT)"}},
		{"name not in the certificate", config.Vault{Addresses: []string{"https://localhost:" + port}, CACert: ca}, Fail, []string{`not valid for "localhost"`, "127.0.0.1", "tls_server_name"}},
		{"trusted", config.Vault{Addresses: []string{tlsSrv.URL}, CACert: ca}, Pass, []string{"TLS 1.3, certificate", "valid until"}},
	}
	awsEnv(t, "")
	a := newFakeAWS(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("")
			cfg.Vault = tt.vault
			rep := Run(context.Background(), Options{Config: cfg, STSEndpoint: a.URL, IAMEndpoint: a.URL, Timeout: 5 * time.Second})
			r, _ := rep.Step(StepVault)
			if r.Status != tt.status {
				t.Fatalf("vault step %s, want %s: %s\nfix: %s", r.Status, tt.status, r.Saw, r.Fix)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Saw+"\n"+r.Fix, w) {
					t.Errorf("vault step lacks %q:\n%s\nfix: %s", w, r.Saw, r.Fix)
				}
			}
		})
	}
}
