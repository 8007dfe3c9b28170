package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		file     string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{"iam.hcl", failure.ExitOK, []string{`auth "aws" {`, `mount        = "aws-prod"`, `header_value = "vault.example.com"`, `sts_region   = "eu-west-1"`, `mode   = "0600"`},
			[]string{"exit_after_auth has no native setting", `"pid_file"`}},
		{"ec2.hcl", failure.ExitOK, []string{`type       = "ec2"`, `signature  = "identity"`, `mode   = "0640"`}, []string{"nonce"}},
		{"ignored.hcl", failure.ExitOK, []string{`mode   = "0200"`, "tls_skip_verify = true"}, []string{`stanza "template"`}},
		{"unsupported.hcl", failure.ExitUsage, nil, []string{`auto_auth method "approle" is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "convert", vaTestdata+tt.file)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if code != failure.ExitOK {
				if stdout != "" {
					t.Errorf("stdout on error:\n%s", stdout)
				}
				return
			}
			// The output is a native config that loads to the same settings.
			want, err := config.Load(vaTestdata+tt.file, nil, config.Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := config.Load(writeFile(t, stdout), nil, config.Overrides{})
			if err != nil {
				t.Fatalf("converted config does not load: %v\n%s", err, stdout)
			}
			for _, c := range []*config.Config{want, got} {
				c.Source, c.Warnings, c.ExitAfterAuth = "", nil, false
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConvertUsage(t *testing.T) {
	for _, args := range [][]string{{"convert"}, {"convert", "a", "b"}} {
		if code, _, stderr := runCLI(t, nil, args...); code != failure.ExitUsage || !strings.Contains(stderr, "convert FILE") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// mode 0000 gets the same answer from convert, validate and startup, for a
// Vault Agent config and a native one: refused, exit 2.
func TestModeZeroRefusedEverywhere(t *testing.T) {
	va := writeFile(t, "vault {\n  address = \"http://127.0.0.1:1\"\n}\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n"+
		"  sink \"file\" {\n    config = { path = \"/run/xa-test/token\", mode = 0000 }\n  }\n}\n")
	native := writeFile(t, "vault {\n  address = \"http://127.0.0.1:1\"\n}\nsink \"socket\" {\n  path = \"/run/xa-test/agent.sock\"\n  mode = \"0000\"\n}\n")
	for file, want := range map[string]string{va: ":9: sink mode 0000 leaves no permission bits", native: `:6: sink "socket" "/run/xa-test/agent.sock": mode "0000" gives no one access`} {
		for _, args := range [][]string{{"convert", file}, {"validate", "--config", file}, {"--once", "--config", file}} {
			code, stdout, stderr := runCLI(t, nil, args...)
			if code != failure.ExitUsage || !strings.Contains(stderr, file+want) || stdout != "" {
				t.Errorf("xauth-agent %q: exit %d, want %d and %q\nstdout %q\nstderr:\n%s", args, code, failure.ExitUsage, want, stdout, stderr)
			}
		}
	}
}
