package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// everything is a Config that sets every setting NativeHCL writes.
func everything() *Config {
	return &Config{
		Vault: Vault{
			Addresses: []string{"https://vault.example:8200"}, Namespace: "team-a", CACert: "/etc/ca.pem", CAPath: "/etc/certs",
			ClientCert: "/etc/c.pem", ClientKey: "/etc/k.pem", TLSServerName: "vault.internal", TLSSkipVerify: true,
		},
		Auth: Auth{Method: "aws", Type: "ec2", Role: "web", Mount: "aws-ec2", IMDSv2Only: true,
			STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com", // the defaults, not written for ec2
			Signature: SignaturePKCS7, NonceFile: "/var/lib/xauth-agent/web.nonce"},
		Sinks: []FileSink{
			{Path: "/run/a", Mode: 0o600, Owner: "root", Group: "1001", UID: 0, GID: 1001, Format: FormatJSON},
			{Path: "/run/b", Mode: 0o640, UID: -1, GID: -1, Format: FormatEnv},
		},
		Socket:    &SocketSink{Path: "/run/a.sock", Mode: 0o660, Group: "root", GID: 0, AllowUIDs: []int{1000, 1001}, AllowGIDs: []int{20}},
		Log:       Log{Level: "debug", Format: "console"},
		Lifecycle: Lifecycle{MinBackoff: 1500 * time.Millisecond, MaxBackoff: time.Hour, RevokeOnExit: true, RemoveSinksOnExit: true},
	}
}

// TestNativeHCLLayout pins the layout `xauth-agent convert` prints: blocks apart by a blank
// line, attributes indented by two spaces with their "=" aligned, as hclfmt writes them.
func TestNativeHCLLayout(t *testing.T) {
	const want = `vault {
  address         = "https://vault.example:8200"
  namespace       = "team-a"
  ca_cert         = "/etc/ca.pem"
  ca_path         = "/etc/certs"
  client_cert     = "/etc/c.pem"
  client_key      = "/etc/k.pem"
  tls_server_name = "vault.internal"
  tls_skip_verify = true
}

auth "aws" {
  type         = "ec2"
  role         = "web"
  mount        = "aws-ec2"
  signature    = "pkcs7"
  nonce_file   = "/var/lib/xauth-agent/web.nonce"
  imds_v2_only = true
}

sink "file" {
  path   = "/run/a"
  mode   = "0600"
  owner  = "root"
  group  = "1001"
  format = "json"
}

sink "file" {
  path   = "/run/b"
  mode   = "0640"
  format = "env"
}

sink "socket" {
  path       = "/run/a.sock"
  mode       = "0660"
  group      = "root"
  allow_uids = [1000, 1001]
  allow_gids = [20]
}

log {
  level  = "debug"
  format = "console"
}

lifecycle {
  min_backoff          = "1.5s"
  max_backoff          = "1h0m0s"
  revoke_on_exit       = true
  remove_sinks_on_exit = true
}
`
	if got := string(NativeHCL(everything())); got != want {
		t.Errorf("NativeHCL:\n%s\nwant:\n%s", got, want)
	}
}

// TestNativeHCLRoundTrip checks that what NativeHCL writes loads back to the same Config,
// whatever bytes its strings hold.
func TestNativeHCLRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"every setting", nil},
		{"iam", func(c *Config) {
			c.Auth = Auth{Method: "aws", Type: "iam", Mount: "aws", HeaderValue: "vault.example", STSRegion: "eu-west-1", STSEndpoint: "https://sts.eu-west-1.amazonaws.com"}
			c.Socket, c.Sinks = nil, nil
		}},
		{"iam with an assumed role", func(c *Config) {
			c.Auth = Auth{Method: "aws", Type: "iam", Mount: "aws", STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com",
				AssumeRole: AssumeRole{ARN: "arn:aws:iam::222222222222:role/r", ExternalID: "ext", SessionName: "web-1", Duration: 90 * time.Minute}}
		}},
		{"iam with an assumed role and its defaults", func(c *Config) {
			c.Auth = Auth{Method: "aws", Type: "iam", Mount: "aws", STSRegion: "us-east-1", STSEndpoint: "https://sts.amazonaws.com",
				AssumeRole: AssumeRole{ARN: "arn:aws:iam::222222222222:role/r", Duration: DefaultAssumeRoleDuration}}
		}},
		{"quotes, backslashes and control characters", func(c *Config) { c.Auth.Role = "a\"b\\c\nd\re\tf\x00g\x1fh\x7f" }},
		{"interpolation and template markers", func(c *Config) { c.Auth.Role = "${x} $${y} %{z} $ { $" }},
		{"unicode", func(c *Config) { c.Auth.Role = "é \u00a0 \ufeff \u2028 \U0001F600 \ue123 \ufffd" }},
		{"bytes that are not UTF-8", func(c *Config) { c.Auth.Role = "\xff\xfe\xc3 \xed\xa0\x80" }},
		{"comment markers", func(c *Config) { c.Vault.Namespace = "# // /* */ <<EOF" }},
		{"wrap_ttl, on_change and health", func(c *Config) {
			c.Sinks[0].WrapTTL = 90 * time.Second
			c.Sinks[1].OnChange = []string{"/bin/sh", "-c", `echo "$XAUTH_SINK_PATH" changed`}
			c.Sinks[1].OnChangeSplay, c.Sinks[1].OnChangeTimeout = 5*time.Second, time.Minute
			c.Health.Address = "127.0.0.1:9105"
		}},
		{"several vault addresses", func(c *Config) {
			c.Vault.Addresses = []string{"https://vault-1.example:8200", "https://vault-2.example:8200", "http://127.0.0.1:8200"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := everything()
			if tt.edit != nil {
				tt.edit(want)
			}
			path := filepath.Join(t.TempDir(), "native.hcl")
			if err := os.WriteFile(path, NativeHCL(want), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Load(path, nil, Overrides{})
			if err != nil {
				t.Fatalf("the written file does not load: %v\n%s", err, NativeHCL(want))
			}
			got.Source, got.Warnings = "", nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, want, NativeHCL(want))
			}
		})
	}
}
