package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/diagnose"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

func TestDiagnoseArgs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     diagnoseOptions
		wantRole string
		err      string
	}{
		{name: "defaults", args: nil, want: diagnoseOptions{output: "text"}},
		{
			name:     "own flags in every spelling, among the agent's",
			args:     []string{"--role", "vault-role", "-output=json", "--aws-sts-endpoint", "http://127.0.0.1:1", "--imds-v2-only", "--aws-iam-endpoint=http://127.0.0.1:2", "--mount=aws"},
			want:     diagnoseOptions{output: "json", stsEndpoint: "http://127.0.0.1:1", iamEndpoint: "http://127.0.0.1:2"},
			wantRole: "vault-role",
		},
		{name: "help", args: []string{"--config", "x.hcl", "-h"}, err: "exit status 0"},
		{name: "nothing taken after --", args: []string{"--", "--output", "json"}, err: `unexpected argument "--output"`},
		{name: "bad output", args: []string{"--output", "token"}, err: `--output "token": use text or json`},
		{name: "missing value", args: []string{"--aws-sts-endpoint"}, err: "flag needs an argument: -aws-sts-endpoint"},
		{name: "endpoint not a URL", args: []string{"--aws-iam-endpoint", "iam.local"}, err: `--aws-iam-endpoint "iam.local"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, o, err := diagnoseArgs(tt.args, streams{nil, io.Discard, io.Discard})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			role := ""
			if o.overrides["role"] != nil {
				role = o.overrides["role"][0]
			}
			if got != tt.want || role != tt.wantRole {
				t.Errorf("got %+v role %q, want %+v role %q", got, role, tt.want, tt.wantRole)
			}
		})
	}
}

func runDiagnoseCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "XAUTH_ROLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, env[k])
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"diagnose"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunDiagnoseUsage(t *testing.T) {
	dir := t.TempDir()
	ec2 := filepath.Join(dir, "ec2.hcl")
	if err := os.WriteFile(ec2, []byte("vault {\n  address = \"http://127.0.0.1:1\"\n}\nauth \"aws\" {\n  type = \"ec2\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help lists the exit codes", nil, []string{"--help"}, failure.ExitOK, "", "5  Vault refuses, or would refuse, the login"},
		{"unknown flag", nil, []string{"--nope"}, failure.ExitUsage, "", "flag provided but not defined: -nope"},
		{"bad output", nil, []string{"--output", "yaml"}, failure.ExitUsage, "", `--output "yaml"`},
		{"once does not apply", nil, []string{"--once"}, failure.ExitUsage, "", "do not apply to diagnose"},
		{"sink-file does not apply", nil, []string{"--sink-file", "/tmp/t"}, failure.ExitUsage, "", "do not apply to diagnose"},
		{"no vault address: a report with the config failure", nil, nil, failure.ExitUsage, "[FAIL] config", ""},
		{"ec2 type", nil, []string{"--config", ec2}, failure.ExitUsage, "diagnose covers the iam type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runDiagnoseCLI(t, tt.env, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stdout lacks %q or stderr lacks %q\nstdout:\n%s\nstderr:\n%s", tt.wantStdout, tt.wantStderr, stdout, stderr)
			}
		})
	}
}

// With environment credentials, an STS and a Vault that do not answer: the
// identity is a warning (the agent never calls STS itself), Vault a failure.
func TestRunDiagnoseVaultUnreachableJSON(t *testing.T) {
	env := map[string]string{"VAULT_ADDR": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "AKIATESTDIAGNOSE0001", "AWS_SECRET_ACCESS_KEY": "diagnose-secret"}
	code, stdout, stderr := runDiagnoseCLI(t, env, "--role", "vault-role", "--output", "json",
		"--aws-sts-endpoint", "http://127.0.0.1:1", "--aws-iam-endpoint", "http://127.0.0.1:1")
	if code != failure.ExitUnreachable {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, failure.ExitUnreachable, stdout, stderr)
	}
	var doc struct {
		OK           bool   `json:"ok"`
		FirstFailure string `json:"first_failure"`
		Steps        []diagnose.Result
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	status := map[string]diagnose.Status{}
	for _, s := range doc.Steps {
		status[s.Name] = s.Status
	}
	want := map[string]diagnose.Status{diagnose.StepIMDS: diagnose.Skip, diagnose.StepCredentials: diagnose.Pass,
		diagnose.StepIdentity: diagnose.Warn, diagnose.StepVault: diagnose.Fail, diagnose.StepLogin: diagnose.Skip}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("step %s = %q, want %q", k, status[k], v)
		}
	}
	if doc.OK || doc.FirstFailure != diagnose.StepVault {
		t.Errorf("ok=%v first_failure=%q", doc.OK, doc.FirstFailure)
	}
	if strings.Contains(stdout, "diagnose-secret") {
		t.Error("the report shows the secret key")
	}
}

func TestDiagnoseExitCode(t *testing.T) {
	rep := func(steps ...diagnose.Result) *diagnose.Report { return &diagnose.Report{Steps: steps} }
	pass := diagnose.Result{Name: "a", Status: diagnose.Pass}
	warn := diagnose.Result{Name: "b", Status: diagnose.Warn}
	fail := func(k failure.Kind) diagnose.Result {
		return diagnose.Result{Name: "c", Status: diagnose.Fail, Kind: k}
	}
	tests := []struct {
		rep  *diagnose.Report
		want int
	}{
		{rep(pass, warn), failure.ExitOK},
		{rep(pass, fail(failure.Credentials), fail(failure.Refused)), failure.ExitCredentials},
		{rep(fail(failure.Unreachable)), failure.ExitUnreachable},
		{rep(warn, fail(failure.Refused)), failure.ExitRefused},
		{rep(fail(failure.Config)), failure.ExitUsage},
		{rep(fail(failure.Runtime)), failure.ExitRuntime},
	}
	for i, tt := range tests {
		if got := diagnoseExitCode(tt.rep); got != tt.want {
			t.Errorf("case %d: exit %d, want %d", i, got, tt.want)
		}
	}
}
