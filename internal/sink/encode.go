package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// The formats a file sink can hold; "" means formatToken.
const (
	formatToken = "token"
	formatJSON  = "json"
	formatEnv   = "env"
)

// Encode renders t in format:
//
//   - "token" (or ""): the raw token, no trailing newline;
//   - "json": {"token", "accessor", "policies", "lease_duration" (whole
//     seconds), "renewable", "expires_at" (RFC 3339, UTC; null when
//     ExpiresAt is zero, i.e. the token does not expire)} and a newline;
//   - "env": VAULT_TOKEN=<token> and a newline, the token single-quoted for
//     the shell unless it is only [A-Za-z0-9._-].
//
// It fails for an unknown format, for "json" when a string is not valid
// UTF-8 (JSON would silently replace the bytes), and for "env" when the token
// holds a NUL byte (no environment variable can).
func Encode(format string, t token.Token) ([]byte, error) {
	switch format {
	case "", formatToken:
		return []byte(t.Token), nil
	case formatJSON:
		return encodeJSON(t)
	case formatEnv:
		if strings.IndexByte(t.Token, 0) >= 0 {
			return nil, errors.New("format env: token contains a NUL byte, which an environment variable cannot hold")
		}
		return []byte("VAULT_TOKEN=" + shellQuote(t.Token) + "\n"), nil
	}
	return nil, fmt.Errorf("format %q: unknown format (want %s, %s or %s)", format, formatToken, formatJSON, formatEnv)
}

// EncodeWrapped renders a wrapping token of the sink's token in format:
//
//   - "token" (or ""): the wrapping token alone, no trailing newline;
//   - "json": Vault's wrap info, {"token", "accessor", "ttl" (seconds),
//     "creation_time", "creation_path", "wrapped_accessor"} and a newline,
//     the file Vault Agent's sink writes with wrap_ttl.
//
// "env" is refused: a wrapping token is no VAULT_TOKEN (the configuration
// refuses it first).
func EncodeWrapped(format string, w *api.SecretWrapInfo) ([]byte, error) {
	if w == nil || w.Token == "" {
		return nil, errors.New("vault returned no wrapping token")
	}
	switch format {
	case "", formatToken:
		return []byte(w.Token), nil
	case formatJSON:
		b, err := json.Marshal(w)
		if err != nil {
			return nil, fmt.Errorf("format json: %w", err)
		}
		return append(b, '\n'), nil
	}
	return nil, fmt.Errorf("format %q with wrap_ttl: a wrapping token is written as %s or %s", format, formatToken, formatJSON)
}

// tokenJSON is the "json" format's schema.
type tokenJSON struct {
	Token         string   `json:"token"`
	Accessor      string   `json:"accessor"`
	Policies      []string `json:"policies"`
	LeaseDuration int64    `json:"lease_duration"`
	Renewable     bool     `json:"renewable"`
	ExpiresAt     *string  `json:"expires_at"`
}

func encodeJSON(t token.Token) ([]byte, error) {
	v := tokenJSON{
		Token:         t.Token,
		Accessor:      t.Accessor,
		Policies:      t.Policies,
		LeaseDuration: int64(t.LeaseDuration / time.Second),
		Renewable:     t.Renewable,
	}
	if v.Policies == nil {
		v.Policies = []string{}
	}
	if !t.ExpiresAt.IsZero() {
		s := t.ExpiresAt.UTC().Format(time.RFC3339)
		v.ExpiresAt = &s
	}
	if !utf8.ValidString(v.Token) {
		return nil, errors.New("format json: token is not valid UTF-8")
	}
	if !utf8.ValidString(v.Accessor) {
		return nil, errors.New("format json: accessor is not valid UTF-8")
	}
	for _, p := range v.Policies {
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("format json: policy %q is not valid UTF-8", p)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("format json: %w", err)
	}
	return append(b, '\n'), nil
}

// shellQuote returns s unchanged when every byte is in [A-Za-z0-9._-], and
// otherwise wrapped in single quotes; a single quote inside s closes the
// quoting, is written escaped (\') and reopens it.
func shellQuote(s string) string {
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
