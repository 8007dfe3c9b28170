package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A file sink's wrap_ttl and on_change settings, and the health block.
func TestLoadWrapOnChangeAndHealth(t *testing.T) {
	path := writeConfig(t, `vault { address = "https://vault.example:8200" }
sink "file" {
  path              = "/run/xauth-agent/token"
  wrap_ttl          = "5m"
  format            = "json"
  on_change         = ["/bin/sh", "-c", "systemctl reload app"]
  on_change_splay   = "10s"
  on_change_timeout = "1m"
}
health {
  address = "[::1]:9105"
}
`)
	got, err := Load(path, nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := expected(path, func(c *Config) {
		c.Sinks = []FileSink{{Path: "/run/xauth-agent/token", Mode: 0o600, UID: -1, GID: -1, Format: FormatJSON, WrapTTL: 5 * time.Minute,
			OnChange: []string{"/bin/sh", "-c", "systemctl reload app"}, OnChangeSplay: 10 * time.Second, OnChangeTimeout: time.Minute}}
		c.Health = Health{Address: "[::1]:9105"}
	})
	got.Warnings = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// convert writes them back.
	native := string(NativeHCL(got))
	for _, w := range []string{`wrap_ttl          = "5m0s"`, `on_change         = ["/bin/sh", "-c", "systemctl reload app"]`, "health {\n  address = \"[::1]:9105\"\n}"} {
		if !strings.Contains(native, w) {
			t.Errorf("NativeHCL lacks %q:\n%s", w, native)
		}
	}
}

func TestLoadWrapOnChangeAndHealthErrors(t *testing.T) {
	const vaultOnly = `vault { address = "https://vault.example:8200" }` + "\n"
	sink := func(attrs string) string { return vaultOnly + "sink \"file\" {\n  path = \"/run/t\"\n" + attrs + "}\n" }
	tests := []struct {
		name, file string
		want       []string
	}{
		{"wrap_ttl with env", sink("  format = \"env\"\n  wrap_ttl = \"5m\"\n"), []string{`sink "/run/t"`, `wrap_ttl with format "env"`}},
		{"wrap_ttl under a second", sink("  wrap_ttl = \"500ms\"\n"), []string{"wrap_ttl 500ms is under a second"}},
		{"wrap_ttl not a duration", sink("  wrap_ttl = \"soon\"\n"), []string{"FILE:4", `wrap_ttl "soon"`}},
		{"on_change not a list", sink("  on_change = \"systemctl reload app\"\n"), []string{"FILE:4", "not a list"}},
		{"on_change empty command", sink("  on_change = [\"\", \"x\"]\n"), []string{"empty command"}},
		{"on_change command missing", sink("  on_change = [\"/nonexistent/reload-app\"]\n"), []string{`on_change command "/nonexistent/reload-app"`}},
		{"on_change command not in PATH", sink("  on_change = [\"no-such-command-xauth\"]\n"), []string{`"no-such-command-xauth"`, "PATH"}},
		{"splay without on_change", sink("  on_change_splay = \"5s\"\n"), []string{"without on_change"}},
		{"health on every address", vaultOnly + "health {\n  address = \"0.0.0.0:9105\"\n}\n", []string{`health.address "0.0.0.0:9105" (FILE:3)`, "loopback"}},
		{"health on a host name", vaultOnly + "health {\n  address = \"localhost:9105\"\n}\n", []string{"health.address", "loopback"}},
		{"health without a port", vaultOnly + "health {\n  address = \"127.0.0.1\"\n}\n", []string{"health.address", "host:port"}},
		{"health on port 0", vaultOnly + "health {\n  address = \"127.0.0.1:0\"\n}\n", []string{"health.address", "port"}},
		{"health unknown attribute", vaultOnly + "health {\n  adress = \"127.0.0.1:9105\"\n}\n", []string{"FILE:3", `"adress"`}},
		{"two health blocks", vaultOnly + "health {\n}\nhealth {\n}\n", []string{"Duplicate health block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			_, err := Load(path, nil, Overrides{})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A Vault Agent sink's wrap_ttl converts: the file holds Vault's wrap info, as Vault Agent
// writes it; the method's wrap_ttl stays an error.
func TestLoadVaultAgentWrapTTL(t *testing.T) {
	_, err := Load(vaFixture("unsupported.hcl"), nil, Overrides{})
	if err == nil || strings.Contains(err.Error(), "sink wrap_ttl") {
		t.Fatalf("unsupported.hcl: %v", err)
	}
	path := writeConfig(t, `auto_auth {
  method "aws" {
    wrap_ttl = "1m"
    config = { type = "iam", role = "web" }
  }
  sink "file" {
    wrap_ttl = 300
    config = { path = "/run/t", mode = 0600 }
  }
}
vault { address = "https://vault.example:8200" }
`)
	if _, err = Load(path, nil, Overrides{}); err == nil || !strings.Contains(err.Error(), "method wrap_ttl") {
		t.Errorf("a method wrap_ttl: %v", err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	path = writeConfig(t, strings.Replace(string(src), "    wrap_ttl = \"1m\"\n", "", 1))
	cfg, err := Load(path, nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Sinks[0]; s.WrapTTL != 5*time.Minute || s.Format != FormatJSON {
		t.Errorf("sink %+v, want wrap_ttl 5m and format json", s)
	}
}
