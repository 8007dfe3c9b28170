// Package token is the Vault token the agent passes from the login to the
// sinks (Token: its string, its accessor and policies, its lease), and the
// one place it is delivered through: Latest, the latest State of the token
// and its lifecycle, which the renew loop writes and the sinks, the socket
// API, the metrics, sd_notify and exec read. It imports nothing of the
// agent's, so every other package may use it.
package token

import (
	"math"
	"time"

	"github.com/hashicorp/vault/api"
)

// Token is a Vault token and what Vault said about it.
type Token struct {
	Token         string
	Accessor      string
	Policies      []string
	LeaseDuration time.Duration
	Renewable     bool
	ExpiresAt     time.Time
}

// Of converts a login or renewal answer, received at issued, into a Token, its lease as
// LeaseTTL reads it.
func Of(s *api.Secret, issued time.Time) Token {
	ttl := LeaseTTL(s.Auth.LeaseDuration)
	return Token{
		Token:         s.Auth.ClientToken,
		Accessor:      s.Auth.Accessor,
		Policies:      s.Auth.Policies,
		LeaseDuration: ttl,
		Renewable:     s.Auth.Renewable,
		ExpiresAt:     issued.Add(ttl).UTC(),
	}
}

// LeaseTTL is a lease_duration in seconds as a Duration. One beyond what a Duration holds
// (292 years) is capped there rather than wrapping around to a negative TTL; a negative one
// counts as 0 (no lease).
func LeaseTTL(seconds int) time.Duration {
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	return time.Duration(min(max(int64(seconds), 0), maxSeconds)) * time.Second
}
