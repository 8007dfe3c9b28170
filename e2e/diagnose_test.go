package e2e

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// diagnoseReport is `xauth-agent diagnose --output json`.
type diagnoseReport struct {
	OK           bool   `json:"ok"`
	FirstFailure string `json:"first_failure"`
	Steps        []struct {
		Name    string         `json:"name"`
		Status  string         `json:"status"`
		Saw     string         `json:"saw"`
		Fix     string         `json:"fix"`
		Kind    string         `json:"kind"`
		Details map[string]any `json:"details"`
	} `json:"steps"`
}

// runDiagnose runs `xauth-agent diagnose` on the named instance, pointed at
// the AWS fake for its direct STS and IAM calls, with debug logging. Its
// report and its log together must not show a secret: the report is for
// people to paste into tickets.
func runDiagnose(t *testing.T, instance string, env []string, args ...string) result {
	t.Helper()
	return runDiagnoseAs(t, agentRun{instance: instance, env: env, args: args})
}

// runDiagnoseAs is runDiagnose for a run that needs more of agentRun.
func runDiagnoseAs(t *testing.T, a agentRun) result {
	t.Helper()
	a.args = withDebugLog(append([]string{"diagnose", "--aws-sts-endpoint", st.AWS.URL(), "--aws-iam-endpoint", st.AWS.URL()}, a.args...), a.env)
	a.report = true
	r := runProcess(t, a)
	if t.Failed() || testing.Verbose() {
		t.Logf("diagnose %q exited %d:\n%s\nstderr:\n%s", a.args, r.code, r.stdout, r.stderr)
	}
	return r
}

// stepLine is the report line of a step in the text output, with its
// continuation lines.
func stepLines(out, step string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case len(l) > 7 && l[0] == '[' && strings.HasPrefix(strings.TrimSpace(l[7:]), step+" "):
			in = true
		case len(l) > 0 && l[0] != ' ':
			in = false
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestDiagnose(t *testing.T) {
	operator := []string{"VAULT_TOKEN=" + st.RootToken}
	tests := []struct {
		name     string
		instance string
		env      []string
		args     []string
		wantCode int
		// want maps a step to its marker and substrings of its lines.
		want map[string][]string
	}{
		{
			name: "client1 vault-role passes", instance: "client1", env: operator,
			args:     []string{"--role", "vault-role", "--header-value", stack.HeaderValue},
			wantCode: exitOK,
			want: map[string][]string{
				"imds-token":    {"[ ok ]", "IMDSv2 session token obtained"},
				"credentials":   {"[ ok ]", "instance role vault-secondary-role1"},
				"identity":      {"[ ok ]", "assumed-role/vault-secondary-role1/i-0c11e47100000001", "Vault derives the role ARN arn:aws:iam::222222222222:role/vault-secondary-role1"},
				"full-arn":      {"[ ok ]", "no IAM path"},
				"mount":         {"[ ok ]", "auth/aws is an aws auth method"},
				"login":         {"[ ok ]", "policies admin", "the test token was revoked"},
				"role":          {"[ ok ]", "admitted: wildcard arn:aws:iam::222222222222:role/vault-secondary*"},
				"server-config": {"[ ok ]", `the mount expects "` + stack.HeaderValue + `", and this agent sends it`},
			},
		},
		{
			name: "client1 vault-role2: the bound pattern", instance: "client1", env: operator,
			args:     []string{"--role", "vault-role2", "--header-value", stack.HeaderValue},
			wantCode: exitRefused,
			want: map[string][]string{
				"login": {"[FAIL]", `does not belong to the role "vault-role2"`, "principal not bound"},
				"role": {"[FAIL]", `no  arn:aws:iam::222222222222:role/secondary*: the full ARN arn:aws:iam::222222222222:role/vault-secondary-role1 does not start with "arn:aws:iam::222222222222:role/secondary"`,
					"fix: add arn:aws:iam::222222222222:role/vault-secondary-role1 to bound_iam_principal_arn of auth/aws/role/vault-role2"},
			},
		},
		{
			name: "a role under an IAM path", instance: "pathed", env: operator,
			args:     []string{"--role", "vault-role", "--header-value", stack.HeaderValue},
			wantCode: exitRefused,
			want: map[string][]string{
				"full-arn": {"[warn]", "arn:aws:iam::222222222222:role/team/vault-secondary-x: the role has the IAM path /team/",
					"arn:aws:iam::222222222222:role/vault-secondary-x* does not match it"},
				"login": {"[FAIL]", "principal not bound"},
				"role": {"[FAIL]", "no  arn:aws:iam::222222222222:role/vault-secondary*: matches the ARN without its IAM path",
					"fix: add arn:aws:iam::222222222222:role/team/vault-secondary-x* to bound_iam_principal_arn of auth/aws/role/vault-role"},
			},
		},
		{
			name: "a role under an IAM path, no operator token", instance: "pathed",
			args:     []string{"--role", "vault-role", "--header-value", stack.HeaderValue},
			wantCode: exitRefused,
			want: map[string][]string{
				"full-arn": {"[warn]", "the role has the IAM path /team/", "fix: bind arn:aws:iam::222222222222:role/team/vault-secondary-x*"},
				"login":    {"[FAIL]", "principal not bound", "bind arn:aws:iam::ACCOUNT:role/team/name* instead"},
				"role":     {"[skip]", "set VAULT_TOKEN"},
			},
		},
		{
			name: "a wrong server ID header", instance: "client1", env: operator,
			args:     []string{"--role", "vault-role", "--header-value", "not-the-server"},
			wantCode: exitRefused,
			want: map[string][]string{
				"signing": {"[ ok ]", `X-Vault-AWS-IAM-Server-ID "not-the-server"`},
				"login":   {"[FAIL]", "server ID header mismatch", `header_value = "` + stack.HeaderValue + `"`},
				"server-config": {"[FAIL]", `the mount expects "` + stack.HeaderValue + `", this agent is configured with "not-the-server"`,
					`fix: set header_value = "` + stack.HeaderValue + `"`},
			},
		},
		{
			name: "signed for us-west-2 at the global endpoint", instance: "client1", env: operator,
			args:     []string{"--role", "vault-role", "--header-value", stack.HeaderValue, "--sts-region", "us-west-2"},
			wantCode: exitRefused,
			want: map[string][]string{
				"config":   {"[warn]", "refuses signatures for regions other than us-east-1"},
				"identity": {"[FAIL]", "Credential should be scoped to a valid region, not 'us-west-2'", `region mismatch: the request was signed for region "us-west-2"`, "fix: sign for the region of Vault's sts_endpoint"},
				"login":    {"[FAIL]", `region mismatch: the request was signed for region "us-west-2"`},
			},
		},
		{
			name: "no aws auth method at the mount", instance: "client1", env: operator,
			args:     []string{"--role", "vault-role", "--header-value", stack.HeaderValue, "--mount", "nope"},
			wantCode: exitRefused,
			want: map[string][]string{
				"mount": {"[FAIL]", "no auth method is enabled at auth/nope", "HTTP 403", "fix: set mount (auth.mount, --mount)", "aws auth methods here: aws"},
				"login": {"[skip]", "no aws auth method at auth/nope"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runDiagnose(t, tt.instance, tt.env, tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d", r.code, tt.wantCode)
			}
			for step, wants := range tt.want {
				lines := stepLines(r.stdout, step)
				for _, w := range wants {
					if !strings.Contains(lines, w) {
						t.Errorf("step %s lacks %q:\n%s", step, w, lines)
					}
				}
			}
		})
	}
}

// The JSON report of a passing run from environment credentials: IMDS is
// skipped, and the test login's token no longer exists afterwards.
func TestDiagnoseJSONRevokesTheTestToken(t *testing.T) {
	r := runDiagnose(t, "client2", st.Instances["client2"].CredsEnv(), "--role", "vault-role2", "--header-value", stack.HeaderValue, "--output", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d", r.code)
	}
	var rep diagnoseReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	if !rep.OK || rep.FirstFailure != "" || len(rep.Steps) != 12 {
		t.Fatalf("ok=%v first_failure=%q steps=%d", rep.OK, rep.FirstFailure, len(rep.Steps))
	}
	var accessor string
	for _, s := range rep.Steps {
		switch s.Name {
		case "imds", "imds-token":
			if s.Status != "skip" || !strings.Contains(s.Saw, "credentials come from the environment") {
				t.Errorf("%s: %s %q", s.Name, s.Status, s.Saw)
			}
		case "login":
			accessor, _ = s.Details["accessor"].(string)
			if s.Status != "pass" || s.Details["revoked"] != true {
				t.Errorf("login: %s %v", s.Status, s.Details)
			}
		}
	}
	if accessor == "" {
		t.Fatal("the login step names no accessor")
	}
	if _, err := st.Vault.Auth().Token().LookupAccessor(accessor); err == nil {
		t.Errorf("the test login's token (accessor %s) still exists", accessor)
	}
}

// An IMDS that accepts connections and never answers the token PUT: the
// symptom of the hop limit inside a container.
func TestDiagnoseIMDSTokenHopLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // accepted, never answered
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case c := <-held:
				_ = c.Close()
			default:
				return
			}
		}
	})
	start := time.Now()
	r := runDiagnose(t, "client1", []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://" + ln.Addr().String()},
		"--role", "vault-role", "--header-value", stack.HeaderValue)
	if r.code != exitCredentials {
		t.Fatalf("exit %d, want %d", r.code, exitCredentials)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("diagnose took %v against a silent IMDS", took)
	}
	for step, wants := range map[string][]string{
		"imds":        {"[ ok ]", "connected to http://" + ln.Addr().String()},
		"imds-token":  {"[FAIL]", "got no answer within 2s, though the connection opened", "--http-put-response-hop-limit 2"},
		"credentials": {"[FAIL]", "see imds-token"},
		"login":       {"[skip]"},
		"vault":       {"[ ok ]"},
	} {
		lines := stepLines(r.stdout, step)
		for _, w := range wants {
			if !strings.Contains(lines, w) {
				t.Errorf("step %s lacks %q:\n%s", step, w, lines)
			}
		}
	}
}

// A mount that forwards to a regional STS endpoint other than the region
// the agent signs for. Vault cannot reach that endpoint from the loopback
// stack, so only the operator check's reading is asserted.
func TestDiagnoseMountForwardsToAnotherRegion(t *testing.T) {
	const mount = "aws-euw1"
	ctx := context.Background()
	if err := st.EnableAWSMount(ctx, mount, stack.HeaderValue); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Vault.Logical().WriteWithContext(ctx, "auth/"+mount+"/config/client", map[string]any{
		"sts_endpoint": "https://sts.eu-west-1.amazonaws.com", "sts_region": "eu-west-1",
	}); err != nil {
		t.Fatal(err)
	}
	r := runDiagnose(t, "client1", []string{"VAULT_TOKEN=" + st.RootToken},
		"--mount", mount, "--role", "vault-role", "--header-value", stack.HeaderValue)
	if r.code == exitOK {
		t.Fatal("exit 0 for a mount that forwards to another region")
	}
	lines := stepLines(r.stdout, "server-config")
	for _, w := range []string{"[FAIL]",
		"Vault forwards to https://sts.eu-west-1.amazonaws.com, which takes only region eu-west-1 signatures, but this agent signs for us-east-1",
		`fix: sign for eu-west-1: set sts_region = "eu-west-1" and sts_endpoint = "https://sts.eu-west-1.amazonaws.com"`} {
		if !strings.Contains(lines, w) {
			t.Errorf("server-config lacks %q:\n%s", w, lines)
		}
	}
	if !strings.Contains(stepLines(r.stdout, "login"), "[FAIL]") {
		t.Errorf("the login did not fail:\n%s", r.stdout)
	}
}
