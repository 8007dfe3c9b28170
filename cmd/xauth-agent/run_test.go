package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/failure"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for _, k := range []string{"VAULT_ADDR", "XAUTH_ROLE", "VAULT_SKIP_VERIFY"} {
		t.Setenv(k, env[k])
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestRunUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("vault {\n  address = \"http://127.0.0.1:1\"\n}\nauth \"aws\" {\n  rol = \"x\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  string // in stderr
	}{
		{"help lists exit codes", nil, []string{"--help"}, failure.ExitOK, "5  login refused by Vault"},
		{"unknown flag", nil, []string{"--nope"}, failure.ExitUsage, "flag provided but not defined: -nope"},
		{"stray argument", nil, []string{"--once", "extra"}, failure.ExitUsage, `unexpected argument "extra"`},
		{"no vault address", nil, []string{"--once"}, failure.ExitUsage, "vault address is not set"},
		{"bad output", nil, []string{"--once", "--output", "yaml"}, failure.ExitUsage, `--output "yaml"`},
		{"unknown key names file and line", nil, []string{"--once", "--config", bad}, failure.ExitUsage, bad + ":5"},
		{"bad env value", map[string]string{"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_SKIP_VERIFY": "maybe"}, []string{"--once"}, failure.ExitUsage, "VAULT_SKIP_VERIFY"},
		{"sink directory missing fails before any login", map[string]string{"VAULT_ADDR": "http://127.0.0.1:1"},
			[]string{"--once", "--sink-file", filepath.Join(dir, "missing", "token")}, failure.ExitSink, filepath.Join(dir, "missing")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.env, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantOut) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantOut, stderr)
			}
		})
	}
}

func TestRunVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, nil, "--version")
	if code != failure.ExitOK || !strings.HasPrefix(stdout, "xauth-agent ") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}
