package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/config"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		file     string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{"iam.hcl", exitOK, []string{`auth "aws" {`, `mount        = "aws-prod"`, `header_value = "vault.example.com"`, `sts_region   = "eu-west-1"`, `mode   = "0600"`},
			[]string{"exit_after_auth has no native setting", `"pid_file"`}},
		{"ec2.hcl", exitOK, []string{`type       = "ec2"`, `signature  = "identity"`, `mode   = "0640"`}, []string{"nonce"}},
		{"ignored.hcl", exitOK, []string{`mode   = "0200"`, "tls_skip_verify = true"}, []string{`stanza "template"`}},
		{"unsupported.hcl", exitUsage, nil, []string{`auto_auth method "approle" is not supported`}},
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
			if code != exitOK {
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
		if code, _, stderr := runCLI(t, nil, args...); code != exitUsage || !strings.Contains(stderr, "convert FILE") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}
