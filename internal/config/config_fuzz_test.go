package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes through the file half of the pipeline: HCL parsing, schema
// decoding, the per-block decoding of auth and sink bodies, and validation. It must never
// panic, and every failure must wrap ErrInvalid.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullFile))
	f.Add([]byte(`vault { address = "https://vault.example:8200" }`))
	f.Add([]byte("vault {\n  address = \"https://vault.example:8200\"\n  adress = 1\n}\n"))
	f.Add([]byte("vault {}\nvault {}\n"))
	f.Add([]byte(`auth "aws" "iam" { role = "x" }`))
	f.Add([]byte(`auth { }`))
	f.Add([]byte("auth \"aws\" {\n  type = \"ec2\"\n  signature = \"pkcs7\"\n  nonce_file = \"/n\"\n}\n"))
	f.Add([]byte(`sink "file" { path = null }`))
	f.Add([]byte(`sink "file" { path = ["/run/t"] }`))
	f.Add([]byte(`sink "file" { path = "/run/t" mode = 0600 }`))
	f.Add([]byte(`sink "socket" { path = "/run/t.sock" }`))
	f.Add([]byte(`log { level = "${var.level}" }`))
	f.Add([]byte("vault {\n  address = \"https://vault.example:8200\n"))
	f.Add([]byte("\xff\xfe{"))
	// HCL 1 corners: deep nesting, strings token.Value would panic on, a trailing "=", which
	// the parser drops, heredocs, JSON, quoted names, assigned blocks.
	f.Add([]byte(strings.Repeat("a {", 100) + strings.Repeat("[", 100)))
	f.Add([]byte(`log { level = "\777" }` + "\n" + `log { "\UFFFFFFFF" = 1 }`))
	f.Add([]byte("log {\n  level ="))
	f.Add([]byte("log =\n"))
	f.Add([]byte("log {\n  level = <<EOF\ndebug\n  EOF\n}\nauth \"aws\" {\n  role = <<-X\n  r\n  X\n}\n"))
	f.Add([]byte(`{"vault": {"address": "https://v"}}`))
	f.Add([]byte(`"vault" { "address" = "https://v:8200", tls_skip_verify = "true" }`))
	f.Add([]byte("vault = { address = \"https://v:8200\" }\nlog \"x\" \"y\" {}\na b = 1\n= 1\n"))
	f.Add([]byte(`sink "socket" { path = "/s" allow_uids = [1, "2", 3.5, [4], {a = 1}] allow_gids = 0x10 }`))
	f.Add([]byte(`auth "aws" { role = "$\u007bx} ${y}" mount = 1e3 type = true }`))

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
	})
}
