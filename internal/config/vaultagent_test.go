package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const vaDir = "testdata/vaultagent"

func vaFixture(name string) string { return filepath.Join(vaDir, name) }

func TestLoadVaultAgent(t *testing.T) {
	vault := Vault{Addresses: []string{"https://vault.example.com:8200"}}
	tests := []struct {
		file string
		edit func(*Config)
		warn []string // substrings, each of some warning
	}{
		{"iam.hcl", func(c *Config) {
			c.Vault.CACert = "/etc/vault-agent/ca.pem"
			c.Auth.Role = "web-server"
			c.Auth.Mount = "aws-prod"
			c.Auth.HeaderValue = "vault.example.com"
			c.Auth.STSRegion = "eu-west-1"
			c.Auth.STSEndpoint = "https://sts.eu-west-1.amazonaws.com"
			c.Sinks = []FileSink{{Path: "/run/vault-agent/token", Mode: 0o600, UID: -1, GID: -1, Format: FormatToken}}
			c.ExitAfterAuth = true
		}, []string{"is a Vault Agent config", `"pid_file" (testdata/vaultagent/iam.hcl:3) is ignored`}},
		{"ec2.hcl", func(c *Config) {
			c.Auth.Type = "ec2"
			c.Auth.Role = "batch"
			c.Auth.STSRegion, c.Auth.STSEndpoint = "us-east-1", "https://sts.amazonaws.com"
			c.Auth.Signature = SignatureIdentity
			c.Auth.NonceFile = DefaultNonceFile
			c.Sinks = []FileSink{{Path: "/var/run/vault-agent/token", Mode: 0o640, UID: -1, GID: -1, Format: FormatToken}}
		}, []string{"nonce (testdata/vaultagent/ec2.hcl:13)", "Vault Agent's default 0640 is kept", "has mode 0640"}},
		{"ignored.hcl", func(c *Config) {
			c.Vault.TLSSkipVerify = true
			c.Auth.Role = "app"
			c.Sinks = []FileSink{{Path: "/run/vault-agent/token", Mode: 0o200, UID: -1, GID: -1, Format: FormatToken}}
		}, []string{
			"sink mode 640 (testdata/vaultagent/ignored.hcl:19) is read as Vault Agent reads it: 640 decimal, so the file gets permissions 0200",
			`stanza "cache" (testdata/vaultagent/ignored.hcl:24) is ignored`,
			`stanza "listener" (testdata/vaultagent/ignored.hcl:28) is ignored`,
			`stanza "template" (testdata/vaultagent/ignored.hcl:33) is ignored`,
			`stanza "telemetry" (testdata/vaultagent/ignored.hcl:38) is ignored`,
			"vault.tls_skip_verify is true",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := vaFixture(tt.file)
			got, err := Load(path, nil, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			want := expected(path, func(c *Config) { c.Vault = vault; tt.edit(c) })
			warnings := got.Warnings
			got.Warnings = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, want)
			}
			for _, w := range tt.warn {
				if !containsAny(warnings, w) {
					t.Errorf("no warning contains %q; warnings:\n%s", w, strings.Join(warnings, "\n"))
				}
			}
		})
	}
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestConvertRoundTrip checks that the native file NativeHCL prints loads to the same Config.
func TestConvertRoundTrip(t *testing.T) {
	for _, name := range []string{"iam.hcl", "ec2.hcl", "ignored.hcl"} {
		t.Run(name, func(t *testing.T) {
			va, err := Load(vaFixture(name), nil, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			native := filepath.Join(t.TempDir(), "native.hcl")
			if err := os.WriteFile(native, NativeHCL(va), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Load(native, nil, Overrides{})
			if err != nil {
				t.Fatalf("the converted file does not load: %v\n%s", err, NativeHCL(va))
			}
			for _, c := range []*Config{va, got} {
				c.Source, c.Warnings, c.ExitAfterAuth = "", nil, false
			}
			if !reflect.DeepEqual(got, va) {
				t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, va, NativeHCL(va))
			}
		})
	}
}

func TestLoadVaultAgentErrors(t *testing.T) {
	const head = "vault {\n  address = \"https://vault.example.com:8200\"\n}\n"
	tests := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"unsupported method", "", []string{
			`unsupported.hcl:7: auto_auth method "approle" is not supported`,
		}},
		{"static keys and dh", "", []string{
			"static_keys.hcl:11: static AWS credentials (access_key)",
			"static_keys.hcl:12: static AWS credentials (secret_key)",
			"AWS_ACCESS_KEY_ID",
			"static_keys.hcl:17: sink dh_type",
		}},
		{"method wrap_ttl and exit_on_err", head + "auto_auth {\n  method \"aws\" {\n    wrap_ttl = \"5m\"\n    exit_on_err = true\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n", []string{
			"config.hcl:6: method wrap_ttl", "config.hcl:7: method exit_on_err",
		}},
		{"sink type", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n  sink \"socket\" {\n    config = { path = \"/s\" }\n  }\n}\n", []string{
			`config.hcl:8: auto_auth sink "socket" is not supported`,
		}},
		{"no method", head + "auto_auth {\n}\n", []string{"config.hcl:4: auto_auth has no method"}},
		{"two vault stanzas", head + "vault = {\n  address = \"https://other:8200\"\n}\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n", []string{
			"config.hcl:4: a second vault stanza (the first is on line 1)",
		}},
		{"two auto_auth stanzas", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"a\" }\n  }\n}\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"b\" }\n  }\n}\n", []string{
			"config.hcl:9: a second auto_auth stanza (the first is on line 4)",
		}},
		{"mount path", head + "auto_auth {\n  method \"aws\" {\n    mount_path = \"aws\"\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n", []string{
			`config.hcl:6: mount_path "aws" does not start with "auth/"`,
		}},
		{"unknown key", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\", rgion = \"x\" }\n  }\n}\n", []string{
			`config.hcl:6: Vault Agent aws method config key "rgion" is not understood`,
		}},
		{"ec2 type checked", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"ec3\", role = \"r\" }\n  }\n}\n", []string{
			`auth.type "ec3" (`, `config.hcl:6) is not supported`,
		}},
		{"bad mode", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n  sink \"file\" {\n    config = { path = \"/t\", mode = 99999 }\n  }\n}\n", []string{
			"config.hcl:9: sink mode 99999 is not a file mode",
		}},
		{"mode 0000", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n  sink \"file\" {\n    config = { path = \"/t\", mode = 0000 }\n  }\n}\n", []string{
			"config.hcl:9: sink mode 0000 leaves no permission bits", `Vault Agent documents 0000 as "do not change the file's mode"`, "such as 0640",
		}},
		{"decimal mode with no permission bits", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n  sink \"file\" {\n    config = { path = \"/t\", mode = 512 }\n  }\n}\n", []string{
			"config.hcl:9: sink mode 512 leaves no permission bits",
		}},
		{"owner is chown's unchanged", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n  sink \"file\" {\n    config = { path = \"/t\", owner = 4294967295 }\n  }\n}\n", []string{
			`config.hcl:9: sink "/t": owner "4294967295": id 4294967295 is out of range`,
		}},
		{"two namespaces", "vault {\n  address = \"https://v:8200\"\n  namespace = \"a\"\n}\nauto_auth {\n  method \"aws\" {\n    namespace = \"b\"\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n", []string{
			`config.hcl:7: method namespace "b" differs from vault.namespace "a" (`,
		}},
		{"bad log level", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\nlog_level = \"loud\"\n", []string{
			`config.hcl:9: log_level "loud" is not a log level: use debug, info, warn or error`,
		}},
		{"bad region", head + "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\", region = \"europe\" }\n  }\n}\n", []string{
			`auth.sts_region "europe" (`, `config.hcl:6) is not an AWS region name`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			switch {
			case strings.HasPrefix(tt.name, "unsupported"):
				path = vaFixture("unsupported.hcl")
			case strings.HasPrefix(tt.name, "static"):
				path = vaFixture("static_keys.hcl")
			default:
				path = writeConfig(t, tt.src)
			}
			_, err := Load(path, nil, Overrides{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load: %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "not-a-real-secret-key") {
				t.Errorf("the error shows the secret key:\n%v", err)
			}
		})
	}
}

// TestVaultAgentLogAliases checks that Vault Agent's trace level and standard format are read
// as the agent's nearest, with a warning.
func TestVaultAgentLogAliases(t *testing.T) {
	src := "vault {\n  address = \"https://v:8200\"\n}\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n" +
		"log_level = \"trace\"\nlog_format = \"standard\"\n"
	c, err := Load(writeConfig(t, src), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Log != (Log{Level: "debug", Format: "console"}) {
		t.Errorf("log: %+v, want debug and console", c.Log)
	}
	warnings := strings.Join(c.Warnings, "\n")
	for _, w := range []string{`log_level "trace" (`, `config.hcl:9) is read as "debug"`, `log_format "standard" (`, `config.hcl:10) is read as "console"`} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no warning contains %q:\n%s", w, warnings)
		}
	}
}

func TestVaultAgentModes(t *testing.T) {
	tests := []struct {
		lit  string
		want os.FileMode
		warn bool
	}{
		{"0600", 0o600, false},
		{"0640", 0o640, false},
		{"\"0440\"", 0o440, false},
		{"416", 0o640, true},     // 416 decimal is 0640
		{"640", 0o200, true},     // vault#9404: 640 decimal is 01200
		{"600", 0o130, true},     // 600 decimal is 01130
		{"\"640\"", 0o200, true}, // a string is read the same way
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			src := "vault {\n  address = \"https://v:8200\"\n}\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n" +
				"  sink \"file\" {\n    config = {\n      path = \"/t\"\n      mode = " + tt.lit + "\n    }\n  }\n}\n"
			c, err := Load(writeConfig(t, src), nil, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Sinks[0].Mode; got != tt.want {
				t.Errorf("mode %s: got %04o, want %04o", tt.lit, got, tt.want)
			}
			if got := containsAny(c.Warnings, "is read as Vault Agent reads it"); got != tt.warn {
				t.Errorf("mode %s: decimal warning %v, want %v: %q", tt.lit, got, tt.warn, c.Warnings)
			}
		})
	}
}

// Vault Agent's owner and group are numbers (-1: leave it as the agent's);
// they reach the sink as the same ids.
func TestVaultAgentOwnerGroup(t *testing.T) {
	tests := []struct {
		lit          string
		owner, group string
		uid, gid     int
	}{
		{"owner = 1000, group = 1001", "1000", "1001", 1000, 1001},
		{"owner = -1, group = 0", "", "0", -1, 0},
		{"owner = \"1000\"", "1000", "", 1000, -1},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			src := "vault {\n  address = \"https://v:8200\"\n}\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n" +
				"  sink \"file\" {\n    config = { path = \"/t\", mode = 0600, " + tt.lit + " }\n  }\n}\n"
			c, err := Load(writeConfig(t, src), nil, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			s := c.Sinks[0]
			if s.Owner != tt.owner || s.Group != tt.group || s.UID != tt.uid || s.GID != tt.gid {
				t.Errorf("sink owner %q group %q ids %d:%d, want %q %q %d:%d", s.Owner, s.Group, s.UID, s.GID, tt.owner, tt.group, tt.uid, tt.gid)
			}
		})
	}
}

func FuzzVaultAgent(f *testing.F) {
	for _, name := range []string{"iam.hcl", "ec2.hcl", "ignored.hcl", "unsupported.hcl", "static_keys.hcl"} {
		src, err := os.ReadFile(vaFixture(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("auto_auth {\n  method { config { type = \"iam\"\n role = 1 } }\n  sink { config = { mode = \"0x1ff\", path = \"/t\" } }\n}\n"))
	// Strings that NativeHCL must escape to read back the same, and HCL 1 forms Vault accepts.
	f.Add([]byte("vault = { address = \"https://v:8200\", namespace = \"\\xff\\u0001${a}\\\"\" }\nauto_auth = {\n  method = { type = \"aws\", min_backoff = 010, max_backoff = 1.5e2\n    config = { type = \"iam\", role = <<EOF\nr\nEOF\n, header_value = \"\\ue123\" } }\n  sink \"file\" { config { path = \"/t/\\x00\", mode = 0640, owner = \"0\" } }\n}\nexit_after_auth = \"1\"\nlog_level = \"trace\"\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := load("fuzz.hcl", src, nil, Overrides{})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if c == nil {
			t.Fatal("load returned neither a config nor an error")
		}
		if _, err := load("native.hcl", NativeHCL(c), nil, Overrides{}); err != nil {
			t.Fatalf("the native form of a valid config does not load: %v\n%s", err, NativeHCL(c))
		}
	})
}
