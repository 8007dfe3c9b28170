package sink

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

var sample = token.Token{
	Token:         "hvs.CAESIabc-_.XYZ",
	Accessor:      "acc.123",
	Policies:      []string{"admin", "default"},
	LeaseDuration: 768*time.Hour + 1500*time.Millisecond,
	Renewable:     true,
	ExpiresAt:     time.Date(2026, 3, 1, 14, 30, 0, 0, time.FixedZone("CET", 3600)),
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name   string
		format string
		tok    token.Token
		want   string
	}{
		{"token", "token", sample, "hvs.CAESIabc-_.XYZ"},
		{"empty format is token", "", sample, "hvs.CAESIabc-_.XYZ"},
		{"json", "json", sample,
			`{"token":"hvs.CAESIabc-_.XYZ","accessor":"acc.123","policies":["admin","default"],` +
				`"lease_duration":2764801,"renewable":true,"expires_at":"2026-03-01T13:30:00Z"}` + "\n"},
		{"json without policies or expiry", "json", token.Token{Token: "t"},
			`{"token":"t","accessor":"","policies":[],"lease_duration":0,"renewable":false,"expires_at":null}` + "\n"},
		{"env", "env", sample, "VAULT_TOKEN=hvs.CAESIabc-_.XYZ\n"},
		{"env quotes spaces", "env", token.Token{Token: "a b"}, "VAULT_TOKEN='a b'\n"},
		{"env quotes single quote", "env", token.Token{Token: "it's"}, `VAULT_TOKEN='it'\''s'` + "\n"},
		{"env quotes expansion", "env", token.Token{Token: "$(id)`x`"}, "VAULT_TOKEN='$(id)`x`'\n"},
		{"env quotes newline", "env", token.Token{Token: "a\nb"}, "VAULT_TOKEN='a\nb'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.format, tt.tok)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Encode(%q) =\n%q\nwant\n%q", tt.format, got, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name, format string
		tok          token.Token
		want         string
	}{
		{"unknown format", "yaml", sample, `format "yaml": unknown format (want token, json or env)`},
		{"json invalid utf-8 token", "json", token.Token{Token: "a\xffb"}, "format json: token is not valid UTF-8"},
		{"json invalid utf-8 accessor", "json", token.Token{Token: "t", Accessor: "\xc3"}, "format json: accessor is not valid UTF-8"},
		{"json invalid utf-8 policy", "json", token.Token{Token: "t", Policies: []string{"ok", "\xfe"}}, `format json: policy "\xfe" is not valid UTF-8`},
		{"env NUL", "env", token.Token{Token: "a\x00b"}, "format env: token contains a NUL byte, which an environment variable cannot hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.format, tt.tok)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Encode = %q, %v; want error %q", got, err, tt.want)
			}
		})
	}
}

// parseEnv reads back one VAULT_TOKEN=<word> line as a POSIX shell would:
// bare characters, '...' (literal) and \x (escaped character).
func parseEnv(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "VAULT_TOKEN=")
	if !ok {
		return "", errors.New("no VAULT_TOKEN= prefix")
	}
	rest, ok = strings.CutSuffix(rest, "\n")
	if !ok {
		return "", errors.New("no trailing newline")
	}
	var out strings.Builder
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; c {
		case '\'':
			end := strings.IndexByte(rest[i+1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated single quote")
			}
			out.WriteString(rest[i+1 : i+1+end])
			i += end + 1
		case '\\':
			if i+1 == len(rest) {
				return "", errors.New("trailing backslash")
			}
			i++
			out.WriteByte(rest[i])
		case ' ', '\t', '\n', '"', '$', '`', ';', '&', '|', '<', '>', '(', ')', '*', '?', '[', '#', '~', '=', '%', '{', '}', '!':
			return "", errors.New("unquoted shell metacharacter " + string(c))
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), nil
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "hvs.CAESI-_.", "it's", "''", `a\b`, "a\nb", "$(rm -rf /)", "\x00", "\xff\xfe", "é", "<&>", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		in := sample
		in.Token = tok

		raw, err := Encode("token", in)
		if err != nil || string(raw) != tok {
			t.Fatalf("token format = %q, %v; want the token itself", raw, err)
		}

		js, err := Encode("json", in)
		if !utf8.ValidString(tok) {
			if err == nil {
				t.Fatalf("json accepted invalid UTF-8: %q", js)
			}
		} else {
			if err != nil {
				t.Fatalf("json: %v", err)
			}
			if !strings.HasSuffix(string(js), "}\n") {
				t.Fatalf("json does not end in }\\n: %q", js)
			}
			var back tokenJSON
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatalf("json does not parse: %v\n%q", err, js)
			}
			if back.Token != tok || back.Accessor != in.Accessor || back.LeaseDuration != 2764801 || !back.Renewable ||
				back.ExpiresAt == nil || *back.ExpiresAt != "2026-03-01T13:30:00Z" || strings.Join(back.Policies, ",") != "admin,default" {
				t.Fatalf("json round trip = %+v from %q", back, js)
			}
		}

		env, err := Encode("env", in)
		if strings.ContainsRune(tok, 0) {
			if err == nil {
				t.Fatalf("env accepted a NUL byte: %q", env)
			}
			return
		}
		if err != nil {
			t.Fatalf("env: %v", err)
		}
		back, err := parseEnv(string(env))
		if err != nil {
			t.Fatalf("env %q does not parse: %v", env, err)
		}
		if back != tok {
			t.Fatalf("env round trip = %q, want %q (from %q)", back, tok, env)
		}
		if shellQuote(tok) == tok && strings.Trim(tok, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
			t.Fatalf("env left an unsafe token unquoted: %q", env)
		}
	})
}
