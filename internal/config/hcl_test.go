package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const addrLine = `vault { address = "https://vault.example:8200" }` + "\n"

// TestSyntaxAccepted checks the HCL 1 forms the package documentation promises.
func TestSyntaxAccepted(t *testing.T) {
	tests := []struct {
		name, src string
		want      func(*Config)
	}{
		{"comments of every kind", "# hash\n// slashes\n/* block\ncomment */\n" + addrLine + "log { level = \"debug\" } # trailing\n",
			func(c *Config) { c.Log.Level = "debug" }},
		{"attributes on one line", addrLine + `sink "file" { path = "/run/t" mode = "0640" format = "env" }`,
			func(c *Config) {
				c.Sinks = []FileSink{{Path: "/run/t", Mode: 0o640, UID: -1, GID: -1, Format: FormatEnv}}
				c.Warnings = []string{`sink "/run/t" (config.hcl:2) has mode 0640, which gives users other than its owner access to the token: use "0600" unless they need it`}
			}},
		{"commas between attributes", addrLine + `log { level = "warn", format = "console" }`,
			func(c *Config) { c.Log = Log{Level: "warn", Format: "console"} }},
		{"quoted names", `"vault" { "address" = "https://vault.example:8200" }` + "\n" + `auth aws { role = "web" }`,
			func(c *Config) { c.Auth.Role = "web" }},
		{"number for a string attribute is taken as written", addrLine + "sink \"file\" {\n  path = \"/run/t\"\n  mode = 0400\n}\n",
			func(c *Config) {
				c.Sinks = []FileSink{{Path: "/run/t", Mode: 0o400, UID: -1, GID: -1, Format: FormatToken}}
			}},
		{"bool in quotes", "vault {\n  address = \"https://vault.example:8200\"\n  tls_skip_verify = \"false\"\n}\n", nil},
		{"escapes", addrLine + `auth "aws" { role = "a\"b\\c\u00e9\x41" }`,
			func(c *Config) { c.Auth.Role = "a\"b\\c\u00e9A" }},
		{"escaped interpolation", addrLine + `auth "aws" { role = "$\u007bnot-a-var}" }`,
			func(c *Config) { c.Auth.Role = "${not-a-var}" }},
		{"heredoc", addrLine + "auth \"aws\" {\n  role = <<EOF\nweb\nEOF\n}\n",
			func(c *Config) { c.Auth.Role = "web\n" }},
		{"CRLF line ends", strings.ReplaceAll(addrLine+"log {\n  level = \"error\"\n}\n", "\n", "\r\n"),
			func(c *Config) { c.Log.Level = "error" }},
		{"socket ids as strings", addrLine + `sink "socket" { path = "/run/a.sock", allow_uids = ["1000"] }`,
			func(c *Config) {
				c.Socket = &SocketSink{Path: "/run/a.sock", Mode: 0o660, GID: -1, AllowUIDs: []int{1000}}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load("config.hcl", []byte(tt.src), nil, Overrides{})
			if err != nil {
				t.Fatal(err)
			}
			if want := expected("config.hcl", tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("load:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestSyntaxErrors checks that each syntax or schema fault is reported at its file:line (and
// column, for syntax) with what is wrong.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"unclosed string", "vault {\n  address = \"https://v\n}\n",
			[]string{"config.hcl:2:23: syntax error", "quoted string is not closed"}},
		{"unclosed block", addrLine + "log {\n  level = \"info\"\n",
			[]string{"config.hcl:4:", "syntax error", `expected "}" to close the "{" at line 2`, "end of the file"}},
		{"variable", "vault {\n  address = var.addr\n}\n",
			[]string{"config.hcl:2:13: syntax error", "found the name var.addr", "variables, functions and expressions are not supported"}},
		{"function call", "vault {\n  address = format(\"x\")\n}\n",
			[]string{"config.hcl:2:19: syntax error", `unexpected character "("`, "functions, operators and expressions are not supported"}},
		{"nothing after =", addrLine + "log { level = }\n", []string{"config.hcl:2:15", `expected a value, found "}"`}},
		{"file ends after =", addrLine + "log {\n  level =", []string{"config.hcl:3:9", `the file ends after "="`}},
		{"top-level = at the end", addrLine + "log =", []string{"config.hcl:2:5", `the file ends after "="`}},
		{"name without = or {", addrLine + "log\n", []string{"config.hcl:3:", `expected "=" or "{" after log`}},
		{"attribute with two names", addrLine + "log level = \"x\"\n", []string{"config.hcl:2:11", `expected "{" after a block's labels`}},
		{"list not closed", addrLine + "sink \"socket\" {\n  path = \"/s\"\n  allow_uids = [1, 2\n}\n",
			[]string{"config.hcl:5:1", `expected "," or "]" in a list`}},
		{"single quotes", addrLine + "log { level = 'info' }\n", []string{"config.hcl:2:15", "double quotes"}},
		{"bad escape", addrLine + `log { level = "a\qb" }`, []string{"config.hcl:2:18", "unknown escape"}},
		{"escape out of range", addrLine + `log { level = "\777" }`, []string{"config.hcl:2:15", `the string "\777" cannot be read`}},
		{"not UTF-8", addrLine + "log { level = \"\xff\" }", []string{"config.hcl:2:16", "not valid UTF-8"}},
		{"NUL byte", addrLine + "log { level = \"\x00\" }", []string{"config.hcl:2:16", "null character"}},
		{"JSON", "\n{\"vault\": {\"address\": \"https://v\"}}", []string{"config.hcl:2", "JSON config files are not supported"}},
		{"nesting too deep", addrLine + "x = " + strings.Repeat("[", 65) + strings.Repeat("]", 65), []string{"config.hcl:2:69", "more than 64 levels"}},
		{"deep nesting cannot overflow the stack", strings.Repeat("a {", 1<<20), []string{"config.hcl:1:195: syntax error: more than 64 levels"}},
		{"interpolation", addrLine + "auth \"aws\" {\n  role = \"${var.role}\"\n}\n", []string{"config.hcl:3", `auth.role "${var.role}" contains "${"`}},
		{"interpolation in a heredoc", addrLine + "log {\n  level = <<EOF\n${x}\nEOF\n}\n", []string{"config.hcl:3", `log.level`, `contains "${"`}},
		{"attribute set twice", addrLine + "log {\n  level = \"info\"\n  level = \"warn\"\n}\n", []string{"config.hcl:4", `"level" is set twice`, "first at config.hcl:3"}},
		{"block assigned", addrLine + "log = {\n  level = \"info\"\n}\n", []string{"config.hcl:2", `log is a block: write log { ... }, without "="`}},
		{"attribute written as a block", addrLine + "log {\n  level {\n  }\n}\n", []string{"config.hcl:3", "log.level is an attribute, not a block"}},
		{"label on an unlabelled block", "vault \"main\" {\n  address = \"https://v:8200\"\n}\n", []string{"config.hcl:1", `the vault block takes no label, and has "main"`}},
		{"two labels on auth", addrLine + "auth \"aws\" \"iam\" {\n}\n", []string{"config.hcl:2", "the auth block has 2 labels", `auth "aws" { ... }`}},
		{"sink without type", addrLine + "sink {\n  path = \"/t\"\n}\n", []string{"config.hcl:2", "the sink block has no label", `sink "file"`}},
		{"typo in a block name", addrLine + "lifecyle {\n}\n", []string{"config.hcl:2", `unknown block "lifecyle"`, `did you mean "lifecycle"?`}},
		{"typo in an attribute", "vault {\n  adress = \"https://v:8200\"\n}\n", []string{"config.hcl:2", `unknown attribute "adress" in the vault block`, `did you mean "address"?`}},
		{"wrong type: bool", "vault {\n  address = \"https://v:8200\"\n  tls_skip_verify = 1\n}\n", []string{"config.hcl:3", "vault.tls_skip_verify 1 is not a bool"}},
		{"wrong type: string", addrLine + "auth \"aws\" {\n  role = [\"a\"]\n}\n", []string{"config.hcl:3", "auth.role is a list, not a string"}},
		{"wrong type: list", addrLine + "sink \"socket\" {\n  path = \"/s\"\n  allow_gids = 5\n}\n", []string{"config.hcl:4", "sink.allow_gids is a number, not a list"}},
		{"wrong type: list element", addrLine + "sink \"socket\" {\n  path = \"/s\"\n  allow_gids = [1.5]\n}\n", []string{"config.hcl:4", "sink.allow_gids has 1.5, which is not a whole number"}},
		{"every schema fault at once", "vault {\n  adress = \"x\"\n}\ntemplate {\n}\nlog {\n  level = true\n  colour = \"no\"\n}\n",
			[]string{"config.hcl:2: unknown attribute \"adress\"", "config.hcl:4: unknown block \"template\"", "config.hcl:8: unknown attribute \"colour\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load("config.hcl", []byte(tt.src), nil, Overrides{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("load: %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestVaultAgentSyntax checks HCL 1 forms in Vault Agent configs, which Vault reads alike.
func TestVaultAgentSyntax(t *testing.T) {
	const method = "auto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n"
	tests := []struct {
		name, src string
		want      func(*Config)
		wantErr   string
	}{
		{"assigned stanzas", "vault = {\n  address = \"https://v:8200\"\n}\nauto_auth = {\n  method = {\n    type = \"aws\"\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n",
			func(c *Config) { c.Auth.Role = "r" }, ""},
		{"config as a block", "vault { address = \"https://v:8200\" }\nauto_auth {\n  method \"aws\" {\n    config {\n      type = \"iam\"\n      role = \"r\"\n    }\n  }\n}\n",
			func(c *Config) { c.Auth.Role = "r" }, ""},
		{"interpolation is text, as in Vault", "vault { address = \"https://v:8200\" }\nauto_auth {\n  method \"aws\" {\n    config = { type = \"iam\", role = \"${r}\" }\n  }\n}\n",
			func(c *Config) { c.Auth.Role = "${r}" }, ""},
		{"octal backoff, as Vault reads it", "vault { address = \"https://v:8200\" }\nauto_auth {\n  method \"aws\" {\n    min_backoff = 010\n    max_backoff = 60.0\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\n",
			func(c *Config) {
				c.Auth.Role = "r"
				c.Lifecycle.MinBackoff, c.Lifecycle.MaxBackoff = 8*time.Second, time.Minute
			}, ""},
		{"namespace checked against a later vault stanza", "auto_auth {\n  method \"aws\" {\n    namespace = \"b\"\n    config = { type = \"iam\", role = \"r\" }\n  }\n}\nvault {\n  address = \"https://v:8200\"\n  namespace = \"a\"\n}\n",
			nil, `config.hcl:3: method namespace "b" differs from vault.namespace "a" (config.hcl:9)`},
		{"duplicate attribute", "vault {\n  address = \"https://v:8200\"\n  address = \"https://w:8200\"\n}\n" + method,
			nil, `config.hcl:3: "address" is set twice in the same block (first at config.hcl:2)`},
		{"vault not a stanza", "vault = \"https://v:8200\"\n" + method, nil, "config.hcl:1: vault is not a stanza"},
		{"syntax error", "vault {\n  address = \"https://v:8200\n}\n" + method, nil, "config.hcl:2:28: syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load("config.hcl", []byte(tt.src), nil, Overrides{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("load: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := expected("config.hcl", func(c *Config) {
				c.Vault.Addresses = []string{"https://v:8200"}
				if tt.want != nil {
					tt.want(c)
				}
			})
			got.Warnings = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("load:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
