package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullFile sets every attribute the schema knows.
const fullFile = `
vault {
  address         = "https://vault.example:8200"
  namespace       = "team-a"
  ca_cert         = "/etc/xauth-agent/ca.pem"
  ca_path         = "/etc/ssl/certs"
  client_cert     = "/etc/xauth-agent/client.pem"
  client_key      = "/etc/xauth-agent/client-key.pem"
  tls_server_name = "vault.internal"
  tls_skip_verify = false
}

auth "aws" {
  type         = "iam"
  role         = "web"
  mount        = "/aws-prod/"
  header_value = "vault.example"
  sts_region   = "eu-west-1"
  sts_endpoint = "https://sts.eu-west-1.amazonaws.com"
  imds_v2_only = true
}

sink "file" {
  path   = "/run/xauth-agent/token"
  mode   = "0400"
  owner  = "root"
  group  = "1001"
  format = "json"
}

sink "file" {
  path = "/run/xauth-agent/env"
}

log {
  level  = "debug"
  format = "console"
}
`

// writeConfig writes src to config.hcl in a fresh directory and returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// environ is a hermetic environment for Load.
func environ(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// expected is the Config that defaults give with only a Vault address set, changed by edit.
func expected(source string, edit func(*Config)) *Config {
	c := &Config{
		Source: source,
		Vault:  Vault{Addresses: []string{"https://vault.example:8200"}},
		Auth: Auth{
			Method:      "aws",
			Type:        "iam",
			Mount:       "aws",
			STSRegion:   "us-east-1",
			STSEndpoint: "https://sts.amazonaws.com",
		},
		Log:       Log{Level: "info", Format: "json"},
		Lifecycle: Lifecycle{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestLoadLifecycle(t *testing.T) {
	tests := []struct {
		name, file string
		want       Lifecycle
		wantErr    []string
	}{
		{"defaults", ``, Lifecycle{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute}, nil},
		{"all set", "lifecycle {\n  min_backoff = \"2s\"\n  max_backoff = \"1m\"\n  revoke_on_exit = true\n  remove_sinks_on_exit = true\n}\n",
			Lifecycle{MinBackoff: 2 * time.Second, MaxBackoff: time.Minute, RevokeOnExit: true, RemoveSinksOnExit: true}, nil},
		{"bad duration", "lifecycle {\n  min_backoff = \"soon\"\n}\n", Lifecycle{}, []string{"config.hcl:3", "lifecycle.min_backoff", `"soon"`}},
		{"max below min", "lifecycle {\n  min_backoff = \"1m\"\n  max_backoff = \"1s\"\n}\n", Lifecycle{}, []string{"lifecycle.max_backoff 1s", "config.hcl:4", "shorter than lifecycle.min_backoff 1m0s"}},
		{"unknown key", "lifecycle {\n  backoff = \"1s\"\n}\n", Lifecycle{}, []string{"config.hcl:3", `"backoff"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, `vault { address = "https://vault.example:8200" }`+"\n"+tt.file)
			got, err := Load(path, nil, Overrides{})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("Load accepted the file")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Lifecycle != tt.want {
				t.Errorf("Lifecycle = %+v, want %+v", got.Lifecycle, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	vaultOnly := `vault { address = "https://vault.example:8200" }`
	tokenSink := FileSink{Path: "/run/xauth-agent/token", Mode: 0o600, UID: -1, GID: -1, Format: FormatToken}

	tests := []struct {
		name string
		file string // config file contents; "" means no file
		env  map[string]string
		o    Overrides
		want func(path string) *Config
	}{
		{
			name: "defaults with only an address from the environment",
			env:  map[string]string{"VAULT_ADDR": "https://vault.example:8200"},
			want: func(string) *Config { return expected("", nil) },
		},
		{
			name: "defaults with only an address flag",
			o:    Overrides{"vault-addr": {"https://vault.example:8200"}},
			want: func(string) *Config { return expected("", nil) },
		},
		{
			name: "empty file",
			file: "\n",
			env:  map[string]string{"VAULT_ADDR": "https://vault.example:8200"},
			want: func(path string) *Config { return expected(path, nil) },
		},
		{
			name: "file only",
			file: fullFile,
			want: func(path string) *Config {
				return &Config{
					Source: path,
					Vault: Vault{
						Addresses:     []string{"https://vault.example:8200"},
						Namespace:     "team-a",
						CACert:        "/etc/xauth-agent/ca.pem",
						CAPath:        "/etc/ssl/certs",
						ClientCert:    "/etc/xauth-agent/client.pem",
						ClientKey:     "/etc/xauth-agent/client-key.pem",
						TLSServerName: "vault.internal",
					},
					Auth: Auth{
						Method:      "aws",
						Type:        "iam",
						Role:        "web",
						Mount:       "aws-prod",
						HeaderValue: "vault.example",
						STSRegion:   "eu-west-1",
						STSEndpoint: "https://sts.eu-west-1.amazonaws.com",
						IMDSv2Only:  true,
					},
					Sinks: []FileSink{
						{Path: "/run/xauth-agent/token", Mode: 0o400, Owner: "root", Group: "1001", UID: 0, GID: 1001, Format: FormatJSON},
						{Path: "/run/xauth-agent/env", Mode: 0o600, UID: -1, GID: -1, Format: FormatToken},
					},
					Log:       Log{Level: "debug", Format: "console"},
					Lifecycle: Lifecycle{MinBackoff: time.Second, MaxBackoff: 5 * time.Minute},
				}
			},
		},
		{
			name: "env overrides file",
			file: `
vault {
  address   = "https://file.example:8200"
  namespace = "file-ns"
}
auth "aws" {
  role       = "file-role"
  mount      = "file-mount"
  sts_region = "eu-west-1"
}
log { level = "debug" }
`,
			env: map[string]string{
				"VAULT_ADDR":         "https://vault.example:8200",
				"VAULT_NAMESPACE":    "env-ns",
				"VAULT_SKIP_VERIFY":  "0",
				"XAUTH_ROLE":         "env-role",
				"XAUTH_MOUNT":        "env-mount",
				"XAUTH_HEADER_VALUE": "env-header",
				"XAUTH_STS_REGION":   "us-east-1",
				"XAUTH_LOG_LEVEL":    "warn",
				"XAUTH_LOG_FORMAT":   "console",
			},
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Vault.Namespace = "env-ns"
					c.Auth.Role = "env-role"
					c.Auth.Mount = "env-mount"
					c.Auth.HeaderValue = "env-header"
					c.Log = Log{Level: "warn", Format: "console"}
				})
			},
		},
		{
			name: "env set to the empty string is ignored",
			file: `
vault { address = "https://vault.example:8200" }
auth "aws" { role = "file-role" }
`,
			env: map[string]string{"VAULT_ADDR": "", "XAUTH_ROLE": "", "VAULT_SKIP_VERIFY": ""},
			want: func(path string) *Config {
				return expected(path, func(c *Config) { c.Auth.Role = "file-role" })
			},
		},
		{
			name: "several addresses, in order",
			file: "vault {\n  address = [\"https://vault-1.example:8200\", \"https://vault-2.example:8200\"]\n}\n",
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Vault.Addresses = []string{"https://vault-1.example:8200", "https://vault-2.example:8200"}
				})
			},
		},
		{
			name: "VAULT_ADDR is one address and replaces the file's list",
			file: "vault {\n  address = [\"https://vault-1.example:8200\", \"https://vault-2.example:8200\"]\n}\n",
			env:  map[string]string{"VAULT_ADDR": "https://vault.example:8200"},
			want: func(path string) *Config { return expected(path, nil) },
		},
		{
			name: "--vault-addr is one address and replaces the list",
			file: "vault {\n  address = [\"https://vault-1.example:8200\", \"https://vault-2.example:8200\"]\n}\n",
			o:    Overrides{"vault-addr": {"https://vault.example:8200"}},
			want: func(path string) *Config { return expected(path, nil) },
		},
		{
			name: "every vault variable",
			env: map[string]string{
				"VAULT_ADDR":            "http://127.0.0.1:8200",
				"VAULT_NAMESPACE":       "ns",
				"VAULT_CACERT":          "/ca.pem",
				"VAULT_CAPATH":          "/certs",
				"VAULT_CLIENT_CERT":     "/cert.pem",
				"VAULT_CLIENT_KEY":      "/key.pem",
				"VAULT_TLS_SERVER_NAME": "vault.internal",
				"XAUTH_STS_ENDPOINT":    "http://127.0.0.1:9000/",
			},
			want: func(string) *Config {
				return expected("", func(c *Config) {
					c.Vault = Vault{
						Addresses:     []string{"http://127.0.0.1:8200"},
						Namespace:     "ns",
						CACert:        "/ca.pem",
						CAPath:        "/certs",
						ClientCert:    "/cert.pem",
						ClientKey:     "/key.pem",
						TLSServerName: "vault.internal",
					}
					c.Auth.STSEndpoint = "http://127.0.0.1:9000/"
				})
			},
		},
		{
			name: "flags override env",
			file: `
vault { address = "https://file.example:8200" }
auth "aws" {
  role         = "file-role"
  header_value = "file-header"
  imds_v2_only = true
}
log { format = "console" }
`,
			env: map[string]string{
				"VAULT_ADDR":         "https://env.example:8200",
				"XAUTH_ROLE":         "env-role",
				"XAUTH_MOUNT":        "env-mount",
				"XAUTH_STS_REGION":   "eu-west-1",
				"XAUTH_STS_ENDPOINT": "https://sts.eu-west-1.amazonaws.com",
				"XAUTH_LOG_LEVEL":    "debug",
			},
			o: Overrides{
				"vault-addr":   {"https://vault.example:8200"},
				"role":         {"flag-role"},
				"mount":        {"flag-mount"},
				"header-value": {""}, // a flag can clear what the file set
				"sts-region":   {"us-west-2"},
				"sts-endpoint": {"https://sts.us-west-2.amazonaws.com"},
				"log-level":    {"error"},
				"log-format":   {"json"},
				"imds-v2-only": {"false"},
			},
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.Role = "flag-role"
					c.Auth.Mount = "flag-mount"
					c.Auth.STSRegion = "us-west-2"
					c.Auth.STSEndpoint = "https://sts.us-west-2.amazonaws.com"
					c.Log.Level = "error"
				})
			},
		},
		{
			name: "sink-file adds sinks to the file's, with sink-format",
			file: vaultOnly + `
sink "file" { path = "/run/xauth-agent/token" }
`,
			o: Overrides{
				"sink-file":   {"/run/app/token.json", "/run/other//token.json"},
				"sink-format": {FormatJSON},
			},
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Sinks = []FileSink{
						tokenSink,
						{Path: "/run/app/token.json", Mode: 0o600, UID: -1, GID: -1, Format: FormatJSON},
						{Path: "/run/other/token.json", Mode: 0o600, UID: -1, GID: -1, Format: FormatJSON},
					}
					c.Warnings = nil
				})
			},
		},
		{
			name: "sink-file without sink-format writes the bare token",
			env:  map[string]string{"VAULT_ADDR": "https://vault.example:8200"},
			o:    Overrides{"sink-file": {"/run/xauth-agent/token"}},
			want: func(string) *Config {
				return expected("", func(c *Config) {
					c.Sinks = []FileSink{tokenSink}
					c.Warnings = nil
				})
			},
		},
		{
			name: "sink formats and modes",
			file: vaultOnly + `
sink "file" {
  path   = "/run/a"
  mode   = "600"
  format = "env"
}
sink "file" {
  path   = "/run/b"
  mode   = "0400"
  format = "token"
}
`,
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Sinks = []FileSink{
						{Path: "/run/a", Mode: 0o600, UID: -1, GID: -1, Format: FormatEnv},
						{Path: "/run/b", Mode: 0o400, UID: -1, GID: -1, Format: FormatToken},
					}
					c.Warnings = nil
				})
			},
		},
		{
			name: "ec2 with the defaults",
			file: vaultOnly + "\nauth \"aws\" {\n  type = \"ec2\"\n  role = \"web\"\n}\n",
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.Type = "ec2"
					c.Auth.Role = "web"
					c.Auth.Signature = SignatureRSA2048
					c.Auth.NonceFile = DefaultNonceFile
				})
			},
		},
		{
			name: "ec2 with every setting",
			file: vaultOnly + `
auth "aws" {
  type         = "ec2"
  role         = "web"
  mount        = "aws-ec2"
  signature    = "identity"
  nonce_file   = "/var/lib/xauth-agent//web.nonce"
  imds_v2_only = true
}
`,
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.Type = "ec2"
					c.Auth.Role = "web"
					c.Auth.Mount = "aws-ec2"
					c.Auth.Signature = SignatureIdentity
					c.Auth.NonceFile = "/var/lib/xauth-agent/web.nonce"
					c.Auth.IMDSv2Only = true
				})
			},
		},
		{
			name: "ec2 from the flags",
			file: vaultOnly,
			o:    Overrides{"auth-type": {"ec2"}, "nonce-file": {"/run/nonce"}},
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.Type = "ec2"
					c.Auth.Signature = SignatureRSA2048
					c.Auth.NonceFile = "/run/nonce"
				})
			},
		},
		{
			name: "the flag turns an ec2 file into iam",
			file: vaultOnly + "\nauth \"aws\" {\n  type = \"ec2\"\n}\n",
			o:    Overrides{"auth-type": {"iam"}},
			want: func(path string) *Config { return expected(path, nil) },
		},
		{
			name: "assume_role with every setting",
			file: vaultOnly + `
auth "aws" {
  assume_role_arn          = "arn:aws:iam::222222222222:role/team/vault-client"
  assume_role_external_id  = "ext-id:42/a"
  assume_role_session_name = "web-1@example.com"
  assume_role_duration     = "12h"
}
`,
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.AssumeRole = AssumeRole{ARN: "arn:aws:iam::222222222222:role/team/vault-client", ExternalID: "ext-id:42/a",
						SessionName: "web-1@example.com", Duration: 12 * time.Hour}
				})
			},
		},
		{
			name: "assume_role_arn from the environment, with the default duration",
			env:  map[string]string{"VAULT_ADDR": "https://vault.example:8200", "XAUTH_ASSUME_ROLE_ARN": "arn:aws-us-gov:iam::123456789012:role/r"},
			want: func(string) *Config {
				return expected("", func(c *Config) {
					c.Auth.AssumeRole = AssumeRole{ARN: "arn:aws-us-gov:iam::123456789012:role/r", Duration: DefaultAssumeRoleDuration}
				})
			},
		},
		{
			name: "the assume-role flag beats the environment, and an empty one clears the file's",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::222222222222:role/file\"\n}\n",
			env:  map[string]string{"XAUTH_ASSUME_ROLE_ARN": "arn:aws:iam::222222222222:role/env"},
			o:    Overrides{"assume-role-arn": {""}},
			want: func(path string) *Config { return expected(path, nil) },
		},
		{
			name: "the assume-role flag",
			file: vaultOnly,
			env:  map[string]string{"XAUTH_ASSUME_ROLE_ARN": "arn:aws:iam::222222222222:role/env"},
			o:    Overrides{"assume-role-arn": {"arn:aws:iam::222222222222:role/flag"}},
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.AssumeRole = AssumeRole{ARN: "arn:aws:iam::222222222222:role/flag", Duration: DefaultAssumeRoleDuration}
				})
			},
		},
		{
			name: "regional STS endpoints that match the region",
			file: vaultOnly + `
auth "aws" {
  sts_region   = "eu-central-1"
  sts_endpoint = "https://vpce-0a1b-c2d3.sts.eu-central-1.vpce.amazonaws.com"
}
`,
			want: func(path string) *Config {
				return expected(path, func(c *Config) {
					c.Auth.STSRegion = "eu-central-1"
					c.Auth.STSEndpoint = "https://vpce-0a1b-c2d3.sts.eu-central-1.vpce.amazonaws.com"
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path string
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			got, err := Load(path, environ(tt.env), tt.o)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := tt.want(path); !reflect.DeepEqual(got, want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	const vaultOnly = `vault { address = "https://vault.example:8200" }` + "\n"

	// In want, FILE stands for the config file's path. Every string must be in the error.
	tests := []struct {
		name string
		file string
		env  map[string]string
		o    Overrides
		want []string
	}{
		{
			name: "unknown attribute",
			file: "vault {\n  address = \"https://vault.example:8200\"\n  adress = \"x\"\n}\n",
			want: []string{"FILE:3", `"adress"`},
		},
		{
			name: "an address of the list is not a URL",
			file: "vault {\n  address = [\"https://vault-1.example:8200\", \"vault-2:8200\"]\n}\n",
			want: []string{`vault.address[1] "vault-2:8200" (FILE:2)`, "https://vault.example:8200"},
		},
		{
			name: "an address listed twice",
			file: "vault {\n  address = [\"https://vault-1.example:8200\", \"https://vault-1.example:8200\"]\n}\n",
			want: []string{`vault.address[1] "https://vault-1.example:8200" (FILE:2) is listed twice`},
		},
		{
			name: "an empty list of addresses",
			file: "vault {\n  address = []\n}\n",
			want: []string{"vault address is not set"},
		},
		{
			name: "a list of addresses with a block in it",
			file: "vault {\n  address = [{ a = 1 }]\n}\n",
			want: []string{"FILE:2", "vault.address has"},
		},
		{
			name: "unknown top-level attribute",
			file: vaultOnly + "role = \"web\"\n",
			want: []string{"FILE:2", `"role"`},
		},
		{
			name: "unknown block",
			file: vaultOnly + "\ntemplate {\n}\n",
			want: []string{"FILE:3", `"template"`},
		},
		{
			name: "unknown block inside vault",
			file: "vault {\n  address = \"https://vault.example:8200\"\n  tls {\n  }\n}\n",
			want: []string{"FILE:3", `"tls"`},
		},
		{
			name: "unknown attribute in auth",
			file: vaultOnly + "auth \"aws\" {\n  type = \"iam\"\n  region = \"eu-west-1\"\n}\n",
			want: []string{"FILE:4", `"region"`},
		},
		{
			name: "unknown attribute in sink",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  perms = \"0600\"\n}\n",
			want: []string{"FILE:4", `"perms"`},
		},
		{
			name: "sink without path",
			file: vaultOnly + "sink \"file\" {\n  mode = \"0600\"\n}\n",
			want: []string{"FILE:", `"path" is required`},
		},
		{
			name: "attribute of the wrong type",
			file: "vault {\n  address = \"https://vault.example:8200\"\n  tls_skip_verify = \"sometimes\"\n}\n",
			want: []string{"FILE:3", "bool"},
		},
		{
			name: "variables are not allowed",
			file: "vault {\n  address = var.addr\n}\n",
			want: []string{"FILE:2:13", "var.addr", "variables, functions and expressions are not supported"},
		},
		{
			name: "syntax error",
			file: "vault {\n  address = \"https://vault.example:8200\n}\n",
			want: []string{"FILE:2"},
		},
		{
			name: "assume_role_arn that is not a role ARN",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::2222:user/bob\"\n}\n",
			want: []string{"auth.assume_role_arn", `"arn:aws:iam::2222:user/bob"`, "FILE:3", "not an IAM role ARN"},
		},
		{
			name: "assume_role_arn from the flag that is not a role ARN",
			file: vaultOnly,
			o:    Overrides{"assume-role-arn": {"vault-client"}},
			want: []string{"auth.assume_role_arn", "--assume-role-arn", "not an IAM role ARN"},
		},
		{
			name: "assume_role_duration below what STS allows",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::222222222222:role/r\"\n  assume_role_duration = \"10m\"\n}\n",
			want: []string{"auth.assume_role_duration", "FILE:4", "15m to 12h"},
		},
		{
			name: "assume_role_duration above what STS allows",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::222222222222:role/r\"\n  assume_role_duration = \"13h\"\n}\n",
			want: []string{"auth.assume_role_duration", "FILE:4", "15m to 12h"},
		},
		{
			name: "assume_role_duration that is not a duration",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::222222222222:role/r\"\n  assume_role_duration = \"3600\"\n}\n",
			want: []string{"auth.assume_role_duration", "FILE:4", `"3600" is not a duration`},
		},
		{
			name: "assume_role_session_name with a character STS refuses",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::222222222222:role/r\"\n  assume_role_session_name = \"web 1\"\n}\n",
			want: []string{"auth.assume_role_session_name", `"web 1"`, "FILE:4", "2 to 64 characters"},
		},
		{
			name: "assume_role_external_id with a character STS refuses, not echoed",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_arn = \"arn:aws:iam::222222222222:role/r\"\n  assume_role_external_id = \"a b\"\n}\n",
			want: []string{"auth.assume_role_external_id (FILE:4)", "2 to 1224 characters"},
		},
		{
			name: "assume_role settings without assume_role_arn",
			file: vaultOnly + "auth \"aws\" {\n  assume_role_session_name = \"web\"\n  assume_role_duration = \"1h\"\n}\n",
			want: []string{"auth.assume_role_session_name (FILE:3) is set but auth.assume_role_arn is not", "auth.assume_role_duration (FILE:4)"},
		},
		{
			name: "assume_role_arn with the ec2 type",
			file: vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n  assume_role_arn = \"arn:aws:iam::222222222222:role/r\"\n}\n",
			want: []string{"auth.assume_role_arn (FILE:4) applies only to auth type \"iam\""},
		},
		{
			name: "duplicate vault block",
			file: vaultOnly + "vault {\n}\n",
			want: []string{"FILE:2", "Duplicate vault block", "FILE:1"},
		},
		{
			name: "duplicate auth block",
			file: vaultOnly + "auth \"aws\" {}\nauth \"aws\" {}\n",
			want: []string{"FILE:3", "Duplicate auth block"},
		},
		{
			name: "duplicate log block",
			file: vaultOnly + "log {}\nlog {}\n",
			want: []string{"FILE:3", "Duplicate log block"},
		},
		{
			name: "auth without a method label",
			file: vaultOnly + "auth {\n}\n",
			want: []string{"FILE:2", "auth"},
		},
		{
			name: "auth method other than aws",
			file: vaultOnly + "auth \"gcp\" {\n  role = \"x\"\n}\n",
			want: []string{"FILE:2", `auth method "gcp" is not supported`, `auth "aws"`},
		},
		{
			name: "unknown auth type",
			file: vaultOnly + "auth \"aws\" {\n  type = \"oidc\"\n}\n",
			want: []string{`auth.type "oidc" (FILE:3) is not supported`, `"iam" or "ec2"`},
		},
		{
			name: "unknown auth type from the flag",
			file: vaultOnly,
			o:    Overrides{"auth-type": {"ec3"}},
			want: []string{`auth.type "ec3" (--auth-type) is not supported`},
		},
		{
			name: "iam-only settings with type ec2",
			file: vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n  header_value = \"x\"\n  sts_region = \"eu-west-1\"\n}\n",
			env:  map[string]string{"XAUTH_STS_ENDPOINT": "https://sts.eu-west-1.amazonaws.com"},
			want: []string{
				`auth.header_value (FILE:4) applies only to auth type "iam", and the type is "ec2"`,
				`auth.sts_region (FILE:5) applies only to auth type "iam"`,
				`auth.sts_endpoint (XAUTH_STS_ENDPOINT) applies only to auth type "iam"`,
			},
		},
		{
			name: "ec2-only settings with type iam",
			file: vaultOnly + "auth \"aws\" {\n  signature = \"identity\"\n  nonce_file = \"/var/lib/n\"\n}\n",
			want: []string{
				`auth.signature (FILE:3) applies only to auth type "ec2", and the type is "iam"`,
				`auth.nonce_file (FILE:4) applies only to auth type "ec2"`,
			},
		},
		{
			name: "nonce-file flag with type iam",
			file: vaultOnly,
			o:    Overrides{"nonce-file": {"/var/lib/n"}},
			want: []string{`auth.nonce_file (--nonce-file) applies only to auth type "ec2"`},
		},
		{
			name: "unknown signature type",
			file: vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n  signature = \"rsa4096\"\n}\n",
			want: []string{`auth.signature "rsa4096" (FILE:4) is not a signature type`, `"rsa2048" (the default), "pkcs7" or "identity"`},
		},
		{
			name: "relative nonce file",
			file: vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n  nonce_file = \"nonce\"\n}\n",
			want: []string{`FILE:4: auth.nonce_file "nonce" is not an absolute path`},
		},
		{
			name: "empty nonce file",
			file: vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n}\n",
			o:    Overrides{"nonce-file": {""}},
			want: []string{`--nonce-file "" is not an absolute path: use a full path such as "/var/lib/xauth-agent/nonce"`},
		},
		{
			name: "sink type other than file or socket",
			file: vaultOnly + "sink \"pipe\" {\n  address = \"/run/x.sock\"\n}\n",
			want: []string{"FILE:2", `sink type "pipe" is not supported`},
		},
		{
			name: "mode with digits that are not octal",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  mode = \"0999\"\n}\n",
			want: []string{"FILE:4", `mode "0999"`, "octal"},
		},
		{
			name: "mode in letters",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  mode = \"rw\"\n}\n",
			want: []string{"FILE:4", `mode "rw"`},
		},
		{
			name: "mode above 0777",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  mode = \"01777\"\n}\n",
			want: []string{"FILE:4", `mode "01777"`},
		},
		{
			name: "relative sink path",
			file: vaultOnly + "sink \"file\" {\n  path = \"run/t\"\n}\n",
			want: []string{"FILE:3", `sink path "run/t" is not absolute`},
		},
		{
			name: "unknown sink format",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  format = \"yaml\"\n}\n",
			want: []string{"FILE:4", `format "yaml" is not supported`},
		},
		{
			name: "two sinks with the same path",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n}\nsink \"file\" {\n  path = \"/run/./t\"\n}\n",
			want: []string{`sink "file" (FILE:3) and sink "file" (FILE:6) both use "/run/t"`, "give each its own path"},
		},
		{
			name: "sink-file with the path of a file sink",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n}\n",
			o:    Overrides{"sink-file": {"/run//t"}},
			want: []string{`sink "file" (FILE:3) and sink "file" (--sink-file) both use "/run/t"`},
		},
		{
			name: "file sink at the socket's path",
			file: vaultOnly + "sink \"socket\" {\n  path = \"/run/x/agent.sock\"\n}\nsink \"file\" {\n  path = \"/run/x/../x/agent.sock\"\n}\n",
			want: []string{`sink "file" (FILE:6) and sink "socket" (FILE:3) both use "/run/x/agent.sock"`},
		},
		{
			name: "sink at the ec2 nonce file",
			file: vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n}\n",
			o:    Overrides{"sink-file": {DefaultNonceFile}},
			want: []string{`sink "file" (--sink-file) and auth.nonce_file (the default) both use "` + DefaultNonceFile + `"`},
		},
		{
			name: "sink mode 0000",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  mode = \"0000\"\n}\n",
			want: []string{`FILE:4: sink "/run/t": mode "0000" gives no one access`, `use "0600"`},
		},
		{
			name: "socket mode 0000",
			file: vaultOnly + "sink \"socket\" {\n  path = \"/run/a.sock\"\n  mode = 0\n}\n",
			want: []string{`FILE:4: sink "socket" "/run/a.sock": mode "0" gives no one access`},
		},
		{
			name: "unknown sink owner and group",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  owner = \"no-such-user-xauth\"\n  group = \"no-such-group-xauth\"\n}\n",
			want: []string{`FILE:4: sink "/run/t": owner "no-such-user-xauth": no such user on this host; create the user, or give a numeric uid`,
				`FILE:5: sink "/run/t": group "no-such-group-xauth": no such group on this host`},
		},
		{
			name: "owner is chown's unchanged",
			file: vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n  owner = \"4294967295\"\n  group = 4294967296\n}\n",
			want: []string{`FILE:4: sink "/run/t": owner "4294967295": id 4294967295 is out of range`, `FILE:5: sink "/run/t": group "4294967296": id 4294967296 is out of range`},
		},
		{
			name: "sink paths that name the root directory",
			file: vaultOnly + "sink \"file\" {\n  path = \"/\"\n}\n",
			o:    Overrides{"sink-file": {"//"}},
			want: []string{`sink "/" (FILE:3) names a directory`, `sink "/" (--sink-file) names a directory`},
		},
		{
			name: "unknown socket group",
			file: vaultOnly + "sink \"socket\" {\n  path = \"/run/a.sock\"\n  group = \"no-such-group-xauth\"\n}\n",
			want: []string{`FILE:4: sink "socket" "/run/a.sock": group "no-such-group-xauth": no such group on this host`},
		},
		{
			name: "relative sink-file",
			file: vaultOnly,
			o:    Overrides{"sink-file": {"token"}},
			want: []string{`--sink-file "token" is not an absolute path`},
		},
		{
			name: "sink-format without sink-file",
			file: vaultOnly,
			o:    Overrides{"sink-format": {FormatJSON}},
			want: []string{"--sink-format", "without --sink-file"},
		},
		{
			name: "unknown sink-format",
			file: vaultOnly,
			o:    Overrides{"sink-file": {"/run/t"}, "sink-format": {"xml"}},
			want: []string{`--sink-format "xml" is not supported`},
		},
		{
			name: "no vault address",
			want: []string{"vault address is not set: set vault.address in the config, VAULT_ADDR, or --vault-addr"},
		},
		{
			name: "vault address without a scheme",
			env:  map[string]string{"VAULT_ADDR": "vault.example:8200"},
			want: []string{`vault.address "vault.example:8200" (VAULT_ADDR) is not an http:// or https:// URL`},
		},
		{
			name: "vault address without a host",
			file: "vault {\n  address = \"https://:8200\"\n}\n",
			want: []string{`vault.address "https://:8200" (FILE:2)`},
		},
		{
			name: "client certificate without key",
			file: vaultOnly,
			env:  map[string]string{"VAULT_CLIENT_CERT": "/cert.pem"},
			want: []string{"vault.client_cert and vault.client_key"},
		},
		{
			name: "VAULT_SKIP_VERIFY that is not a boolean",
			file: vaultOnly,
			env:  map[string]string{"VAULT_SKIP_VERIFY": "maybe"},
			want: []string{`VAULT_SKIP_VERIFY "maybe" is not a boolean`},
		},
		{
			name: "mount of only slashes",
			file: vaultOnly,
			o:    Overrides{"mount": {"//"}},
			want: []string{`auth.mount "//" (--mount) names no path`},
		},
		{
			name: "region that is not a region",
			file: vaultOnly,
			env:  map[string]string{"XAUTH_STS_REGION": "us-east"},
			want: []string{`auth.sts_region "us-east" (XAUTH_STS_REGION) is not an AWS region name`},
		},
		{
			name: "region that does not match the regional endpoint",
			file: vaultOnly + "auth \"aws\" {\n  sts_endpoint = \"https://sts.eu-west-1.amazonaws.com\"\n}\n",
			o:    Overrides{"sts-region": {"us-west-2"}},
			want: []string{
				`auth.sts_region "us-west-2" (--sts-region) does not match the region "eu-west-1"`,
				`auth.sts_endpoint "https://sts.eu-west-1.amazonaws.com" (FILE:3)`,
			},
		},
		{
			name: "default region with a regional endpoint",
			file: vaultOnly,
			env:  map[string]string{"XAUTH_STS_ENDPOINT": "https://STS.eu-west-1.amazonaws.com:443"},
			want: []string{`auth.sts_region "us-east-1" does not match the region "eu-west-1"`},
		},
		{
			name: "region that does not match a China endpoint",
			file: vaultOnly,
			env:  map[string]string{"XAUTH_STS_ENDPOINT": "https://sts.cn-north-1.amazonaws.com.cn", "XAUTH_STS_REGION": "cn-northwest-1"},
			want: []string{`"cn-northwest-1"`, `"cn-north-1"`},
		},
		{
			name: "endpoint with a query",
			file: vaultOnly,
			o:    Overrides{"sts-endpoint": {"https://sts.amazonaws.com/?Action=GetCallerIdentity"}},
			want: []string{`auth.sts_endpoint "https://sts.amazonaws.com/?Action=GetCallerIdentity" (--sts-endpoint) has a query`},
		},
		{
			name: "endpoint that is not http",
			file: vaultOnly,
			o:    Overrides{"sts-endpoint": {"sts.amazonaws.com"}},
			want: []string{`auth.sts_endpoint "sts.amazonaws.com" (--sts-endpoint) is not an http:// or https:// URL`},
		},
		{
			name: "unknown log level and format",
			file: vaultOnly + "log {\n  level = \"verbose\"\n  format = \"text\"\n}\n",
			want: []string{
				`FILE:3: log.level "verbose" is not a log level`,
				`FILE:4: log.format "text" is not a log format`,
			},
		},
		{
			name: "every problem at once",
			file: "auth \"aws\" {\n  mount = \"\"\n}\nsink \"file\" {\n  path = \"/run/t\"\n  mode = \"rw\"\n}\n",
			env:  map[string]string{"VAULT_SKIP_VERIFY": "maybe", "XAUTH_LOG_LEVEL": "loud"},
			want: []string{
				`FILE:6: sink "/run/t": mode "rw"`,
				"VAULT_SKIP_VERIFY",
				"vault address is not set",
				`auth.mount "" (FILE:2)`,
				`XAUTH_LOG_LEVEL "loud" is not a log level`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path string
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			got, err := Load(path, environ(tt.env), tt.o)
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want an error", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Load error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(err.Error(), w) {
					t.Errorf("Load error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.hcl")
	_, err := Load(path, environ(nil), Overrides{})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load error = %v, want ErrInvalid and fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Load error does not name %s: %v", path, err)
	}
}

func TestLoadWarnings(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want []string // each warning must contain its string, in order
	}{
		{
			name: "none",
			file: `
vault { address = "https://vault.example:8200" }
sink "file" { path = "/run/t" }
`,
		},
		{
			name: "tls_skip_verify",
			file: `
vault { address = "https://vault.example:8200" }
sink "file" { path = "/run/t" }
`,
			env:  map[string]string{"VAULT_SKIP_VERIFY": "true"},
			want: []string{"vault.tls_skip_verify is true (VAULT_SKIP_VERIFY)"},
		},
		{
			name: "sink readable by group and others",
			file: `
vault {
  address         = "https://vault.example:8200"
  tls_skip_verify = true
}
sink "file" {
  path = "/run/a"
  mode = "0640"
}
sink "file" {
  path = "/run/b"
  mode = "0604"
}
sink "file" {
  path = "/run/c"
  mode = "0400"
}
`,
			want: []string{
				"vault.tls_skip_verify is true (FILE:4)",
				`sink "/run/a" (FILE:7) has mode 0640`,
				`sink "/run/b" (FILE:11) has mode 0604`,
			},
		},
		{
			name: "global endpoint with another region",
			file: `
vault { address = "https://vault.example:8200" }
auth "aws" { sts_region = "eu-west-1" }
sink "file" { path = "/run/t" }
`,
			want: []string{`auth.sts_region "eu-west-1" (FILE:3) is used with the global STS endpoint "https://sts.amazonaws.com"`},
		},
		{
			name: "no sinks is fine: --once prints the token",
			file: `vault { address = "https://vault.example:8200" }`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.file)
			got, err := Load(path, environ(tt.env), Overrides{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(got.Warnings) != len(tt.want) {
				t.Fatalf("Load warnings = %q, want %d", got.Warnings, len(tt.want))
			}
			for i, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(got.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got.Warnings[i], w)
				}
			}
		})
	}
}

func TestLoadSocketSink(t *testing.T) {
	tests := []struct {
		name, file string
		want       *SocketSink
		wantErr    string
	}{
		{"defaults", "sink \"socket\" {\n  path = \"/run/xauth-agent/agent.sock\"\n  allow_uids = [1000]\n}\n",
			&SocketSink{Path: "/run/xauth-agent/agent.sock", Mode: 0o660, GID: -1, AllowUIDs: []int{1000}}, ""},
		{"all set", "sink \"socket\" {\n  path = \"/run/a.sock\"\n  mode = \"0600\"\n  group = \"root\"\n  allow_uids = [1, 2]\n  allow_gids = [3]\n}\n",
			&SocketSink{Path: "/run/a.sock", Mode: 0o600, Group: "root", GID: 0, AllowUIDs: []int{1, 2}, AllowGIDs: []int{3}}, ""},
		{"relative path", "sink \"socket\" {\n  path = \"agent.sock\"\n}\n", nil, "config.hcl:3: socket path \"agent.sock\" is not absolute"},
		{"two sockets", "sink \"socket\" {\n  path = \"/run/a.sock\"\n}\nsink \"socket\" {\n  path = \"/run/b.sock\"\n}\n", nil, "config.hcl:5: a second sink \"socket\""},
		{"unknown key", "sink \"socket\" {\n  path = \"/run/a.sock\"\n  allow_users = [1]\n}\n", nil, `"allow_users"`},
		{"negative id", "sink \"socket\" {\n  path = \"/run/a.sock\"\n  allow_gids = [-1]\n}\n", nil, "id -1"},
		{"huge id", "sink \"socket\" {\n  path = \"/run/a.sock\"\n  allow_uids = [4294967295]\n}\n", nil, "id 4294967295 is out of range"},
		{"root directory", "sink \"socket\" {\n  path = \"/\"\n}\n", nil, `config.hcl:3) names a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, `vault { address = "https://vault.example:8200" }`+"\n"+tt.file)
			got, err := Load(path, nil, Overrides{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Socket, tt.want) {
				t.Errorf("Socket = %+v, want %+v", got.Socket, tt.want)
			}
		})
	}
}

// Sink paths meet when their directories are one through a symlink, as
// /var/run and /run are.
func TestSinkPathsMeetThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "run"), filepath.Join(dir, "varrun")); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "run", "token"), filepath.Join(dir, "varrun", "token")
	_, err := Load("", environ(map[string]string{"VAULT_ADDR": "https://vault.example:8200"}), Overrides{"sink-file": {a, b}})
	want := fmt.Sprintf(`sink "file" (--sink-file) and sink "file" (--sink-file) both use %q and %q (the same file)`, a, b)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load = %v, want an error containing %q", err, want)
	}
}

// The state and runtime directories: the file, the environment and the flags set them, in that
// order; unset, systemd's $STATE_DIRECTORY and $RUNTIME_DIRECTORY, then the defaults, decide.
// The ec2 nonce follows the state directory; no sink may take the token record's place.
func TestLoadDirs(t *testing.T) {
	vaultOnly := `vault { address = "https://vault.example:8200" }` + "\n"
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	dirs := func(cfg *Config, e func(string) (string, bool)) string {
		s, r := cfg.Lifecycle.Dirs(e)
		return s + " " + r
	}
	cfg, err := Load(writeConfig(t, vaultOnly), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dirs(cfg, nil); got != DefaultStateDir+" "+DefaultRuntimeDir {
		t.Errorf("defaults: %s", got)
	}
	systemd := env(map[string]string{"STATE_DIRECTORY": "/var/lib/xauth-agent/billing", "RUNTIME_DIRECTORY": "/run/xauth-agent/billing:/run/other"})
	if got := dirs(cfg, systemd); got != "/var/lib/xauth-agent/billing /run/xauth-agent/billing" {
		t.Errorf("under systemd: %s", got)
	}

	file := vaultOnly + "lifecycle {\n  state_dir = \"/srv/state/\"\n  runtime_dir = \"/dev/shm/x\"\n}\n"
	cfg, err = Load(writeConfig(t, file), systemd, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dirs(cfg, systemd); got != "/srv/state /dev/shm/x" {
		t.Errorf("from the file: %s", got)
	}
	cfg, err = Load(writeConfig(t, file), env(map[string]string{"XAUTH_STATE_DIR": "/env/state", "XAUTH_RUNTIME_DIR": "/env/run"}), Overrides{"state-dir": {"/flag/state"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := dirs(cfg, nil); got != "/flag/state /env/run" {
		t.Errorf("flag over env over file: %s", got)
	}

	ec2 := vaultOnly + "auth \"aws\" {\n  type = \"ec2\"\n}\n"
	if cfg, err = Load(writeConfig(t, ec2), systemd, Overrides{}); err != nil || cfg.Auth.NonceFile != "/var/lib/xauth-agent/billing/nonce" {
		t.Errorf("ec2 nonce under systemd: %v %v; want it in the state directory", cfg, err)
	}

	for name, tc := range map[string]struct {
		file string
		want []string
	}{
		"relative":    {vaultOnly + "lifecycle {\n  state_dir = \"state\"\n}\n", []string{"lifecycle.state_dir", `"state"`, "config.hcl:3", "absolute"}},
		"record sink": {vaultOnly + "lifecycle {\n  runtime_dir = \"/dev/shm/x\"\n}\nsink \"file\" {\n  path = \"/dev/shm/x/resume.json\"\n}\n", []string{"token record", "sink \"file\""}},
	} {
		_, err := Load(writeConfig(t, tc.file), nil, Overrides{})
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v lacks %q", name, err, w)
			}
		}
	}
}
