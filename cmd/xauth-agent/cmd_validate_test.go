package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xauth-agent/xauth-agent/internal/failure"
)

const vaTestdata = "../../internal/config/testdata/vaultagent/"

func writeFile(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// trustedCA writes a CA certificate's PEM to a file, for a vault.ca_cert
// that must load.
func trustedCA(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	t.Setenv("VAULT_CACERT", trustedCA(t)) // iam.hcl names a CA file this host lacks
	native := writeFile(t, `vault {
  address = "https://vault.example:8200"
  tls_skip_verify = true
}
auth "aws" {
  role = "web"
  header_value = "vault.example"
}
sink "file" {
  path = "/run/xauth-agent/token"
  mode = "0644"
}
`)
	bad := writeFile(t, "vault {\n  address = \"ftp://x\"\n}\nauth \"aws\" {\n  rol = \"x\"\n}\n")
	invalid := writeFile(t, "vault {\n  address = \"ftp://x\"\n}\nauth \"aws\" {\n  type = \"ec3\"\n}\n")
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantOut  []string // in stdout
		wantErr  []string // in stderr
	}{
		{"native ok with warnings", nil, []string{"--config", native}, failure.ExitOK,
			[]string{"ok: " + native, "vault:  https://vault.example:8200", "role web, mount auth/aws", `header_value "vault.example"`, "sink:   file /run/xauth-agent/token mode 0644 format token"},
			[]string{"warning: vault.tls_skip_verify is true (" + native + ":3)", `warning: sink "/run/xauth-agent/token" (` + native + `:10) has mode 0644`}},
		{"flags apply", map[string]string{"VAULT_ADDR": "https://env:8200"}, []string{"--role", "r", "--sink-file", "/run/t"}, failure.ExitOK,
			[]string{"ok: no config file", "vault:  https://env:8200", "role r", "sink:   file /run/t mode 0600", "daemon: lock in "}, nil},
		{"assume-role flag", map[string]string{"VAULT_ADDR": "https://env:8200"}, []string{"--role", "r", "--assume-role-arn", "arn:aws:iam::222222222222:role/vault-client"}, failure.ExitOK,
			[]string{"aws:    assume role arn:aws:iam::222222222222:role/vault-client (session xauth-agent-<hostname>, 15m0s) with the AWS SDK's credentials",
				"its STS client follows AWS_REGION and AWS_ENDPOINT_URL_STS, not sts_region/sts_endpoint"}, nil},
		{"assume-role flag that is no role ARN", map[string]string{"VAULT_ADDR": "https://env:8200"}, []string{"--assume-role-arn", "vault-client"}, failure.ExitUsage,
			nil, []string{`auth.assume_role_arn "vault-client" (--assume-role-arn) is not an IAM role ARN`}},
		{"unknown key names file and line", nil, []string{"--config", bad}, failure.ExitUsage, nil, []string{bad + ":5", `"rol"`}},
		{"every validation error", nil, []string{"--config", invalid}, failure.ExitUsage, nil,
			[]string{`vault.address "ftp://x" (` + invalid + `:2)`, `auth.type "ec3" (` + invalid + `:5)`}},
		{"no vault address", nil, []string{"--role", "r"}, failure.ExitUsage, nil, []string{"vault address is not set"}},
		{"help", nil, []string{"--help"}, failure.ExitOK, []string{"Usage: xauth-agent validate"}, nil},
		{"vault agent iam", nil, []string{"--config", vaTestdata + "iam.hcl"}, failure.ExitOK,
			[]string{"mount auth/aws-prod", "signed for eu-west-1 at https://sts.eu-west-1.amazonaws.com", "exit_after_auth"},
			[]string{"is a Vault Agent config", `"pid_file" (` + vaTestdata + `iam.hcl:3) is ignored`}},
		{"vault agent ec2", nil, []string{"--config", vaTestdata + "ec2.hcl"}, failure.ExitOK,
			[]string{"type ec2, role batch", "signature identity"},
			[]string{"warning: nonce (" + vaTestdata + "ec2.hcl:13)", "default 0640 is kept"}},
		{"vault agent ignored stanzas", nil, []string{"--config", vaTestdata + "ignored.hcl"}, failure.ExitOK,
			[]string{"mode 0200"},
			[]string{"640 decimal", `stanza "template"`, `stanza "listener"`, `stanza "cache"`, `stanza "telemetry"`, "tls_skip_verify"}},
		{"vault agent unsupported method", nil, []string{"--config", vaTestdata + "unsupported.hcl"}, failure.ExitUsage, nil,
			[]string{vaTestdata + `unsupported.hcl:7: auto_auth method "approle" is not supported`, "unsupported.hcl:15: sink wrap_ttl"}},
		{"vault agent static keys", nil, []string{"--config", vaTestdata + "static_keys.hcl"}, failure.ExitUsage, nil,
			[]string{"static_keys.hcl:11: static AWS credentials (access_key)", "AWS_SECRET_ACCESS_KEY", "static_keys.hcl:17: sink dh_type"}},
		{"vault agent flags override", nil, []string{"--config", vaTestdata + "iam.hcl", "--role", "other"}, failure.ExitOK,
			[]string{"role other"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.env, append([]string{"validate"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
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
			if tt.wantCode != failure.ExitOK && strings.Contains(stdout, "ok") {
				t.Errorf("stdout says ok on an error:\n%s", stdout)
			}
		})
	}
}

// validate refuses exactly what startup refuses, with the same message and
// exit code 2: one check, config.Load and the Vault client's TLS files.
func TestValidateEqualsStartup(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, src, want string }{
		{"unknown sink owner", "sink \"file\" {\n  path = \"" + dir + "/t\"\n  owner = \"no-such-user-xauth\"\n}\n", `:6: sink "` + dir + `/t": owner "no-such-user-xauth": no such user on this host`},
		{"unknown sink group", "sink \"file\" {\n  path = \"" + dir + "/t\"\n  group = \"no-such-group-xauth\"\n}\n", `group "no-such-group-xauth": no such group`},
		{"owner is chown's unchanged", "sink \"file\" {\n  path = \"" + dir + "/t\"\n  owner = \"4294967295\"\n}\n", `owner "4294967295": id 4294967295 is out of range`},
		{"unknown socket group", "sink \"socket\" {\n  path = \"" + dir + "/s\"\n  group = \"no-such-group-xauth\"\n}\n", `:6: sink "socket" "` + dir + `/s": group "no-such-group-xauth"`},
		{"mode 0000", "sink \"file\" {\n  path = \"" + dir + "/t\"\n  mode = \"0000\"\n}\n", `:6: sink "` + dir + `/t": mode "0000" gives no one access`},
		{"file sink at the socket", "sink \"socket\" {\n  path = \"" + dir + "/s\"\n}\nsink \"file\" {\n  path = \"" + dir + "/s\"\n}\n", `sink "file" (`},
		{"CA file missing", "", "vault tls settings (ca_cert, client_cert, client_key): Error loading CA File: open " + dir + "/no-such-ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vault := "vault {\n  address = \"http://127.0.0.1:1\"\n}\n"
			if tt.src == "" {
				vault = "vault {\n  address = \"http://127.0.0.1:1\"\n  ca_cert = \"" + dir + "/no-such-ca.pem\"\n}\n"
			}
			path := writeFile(t, vault+tt.src)
			for _, args := range [][]string{{"validate", "--config", path}, {"--once", "--config", path}, {"--config", path}} {
				code, stdout, stderr := runCLI(t, nil, args...)
				if code != failure.ExitUsage || !strings.Contains(stderr, tt.want) || tt.src != "" && !strings.Contains(stderr, path) {
					t.Errorf("xauth-agent %q: exit %d, want %d with %q and the file's name; stdout %q\nstderr:\n%s", args, code, failure.ExitUsage, tt.want, stdout, stderr)
				}
			}
		})
	}
}
