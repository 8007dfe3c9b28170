package config

import (
	"errors"
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
