// Package failure is the one table of the agent's kinds of failure. Each
// kind says how a command exits, what the metrics and logs call it, how the
// lifecycle retries after it, and what diagnose calls it.
//
// A Kind is an error: errors carry their kind by wrapping it
// (fmt.Errorf("%w: ...", failure.Credentials)), by unwrapping to it (as
// vault.Error does), or with Mark; Of finds it again.
package failure

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes. Documented in --help and the README; scripts rely on them.
const (
	ExitOK            = 0 // token obtained and written
	ExitRuntime       = 1 // unexpected runtime failure
	ExitUsage         = 2 // bad flags or configuration
	ExitCredentials   = 3 // no AWS credentials (the SDK's chain, assume_role_arn) or identity document
	ExitUnreachable   = 4 // Vault unreachable or unavailable (network, 5xx, 429)
	ExitRefused       = 5 // Vault refused the login (role, binding, header, region)
	ExitSink          = 6 // a sink cannot be written
	ExitNonceMismatch = 7 // ec2: Vault holds another client nonce for this instance
)

// Kind is a kind of failure.
type Kind uint8

// The kinds of failure.
const (
	None          Kind = iota // no failure
	Runtime                   // unexpected: an error that carries no kind
	Config                    // bad flags or configuration
	Credentials               // no AWS credentials, or no instance identity document
	Unreachable               // Vault does not answer, or answers 5xx or 429
	Refused                   // Vault refused the login, or the agent refused the caller
	NonceMismatch             // an ec2 login refused: Vault holds another client nonce
	RenewRefused              // Vault refused to renew the token: revoked, expired, role gone
	Sink                      // a sink cannot be written
)

// Retry is what the lifecycle does after a failure.
type Retry uint8

const (
	RetryLater  Retry = iota // back off, then try the same step again
	LoginNow                 // the token is lost: log in again at once
	LoginSlowly              // a refusal that waiting rarely fixes: log in again, slowly
)

// kinds is the table. label is the metrics' reason label and the logs'
// error_kind; name is diagnose's "kind" ("" for a kind diagnose does not
// report).
var kinds = [...]struct {
	text  string
	exit  int
	label string
	retry Retry
	name  string
}{
	None:          {"no failure", ExitOK, "none", RetryLater, ""},
	Runtime:       {"unexpected failure", ExitRuntime, "transient", RetryLater, ""},
	Config:        {"invalid configuration", ExitUsage, "config", RetryLater, "config"},
	Credentials:   {"aws credentials unavailable", ExitCredentials, "credentials", RetryLater, "credentials"},
	Unreachable:   {"vault unreachable", ExitUnreachable, "transient", RetryLater, "unreachable"},
	Refused:       {"login refused by vault", ExitRefused, "login_refused", LoginSlowly, "refused"},
	NonceMismatch: {"login refused by vault: client nonce mismatch", ExitNonceMismatch, "login_refused", LoginSlowly, "refused"},
	RenewRefused:  {"vault refused the token renewal", ExitRefused, "renew_refused", LoginNow, ""},
	Sink:          {"a sink cannot be written", ExitSink, "sink", RetryLater, ""},
}

func (k Kind) row() int {
	if int(k) < len(kinds) {
		return int(k)
	}
	return int(Runtime)
}

// Error is the kind's text, which errors wrapping it start with.
func (k Kind) Error() string { return kinds[k.row()].text }

// ExitCode is the code a command exits with for a failure of this kind.
func (k Kind) ExitCode() int { return kinds[k.row()].exit }

// Label names the kind in metrics (a reason label) and logs (error_kind).
func (k Kind) Label() string { return kinds[k.row()].label }

// Retry is what the lifecycle does after a failure of this kind.
func (k Kind) Retry() Retry { return kinds[k.row()].retry }

// MarshalText is diagnose's name of the kind.
func (k Kind) MarshalText() ([]byte, error) { return []byte(kinds[k.row()].name), nil }

// UnmarshalText reads diagnose's name of a kind; "" is Runtime.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, r := range kinds {
		if r.name == string(b) && (r.name != "" || Kind(i) == Runtime) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown kind of failure %q", b)
}

// IsZero reports whether diagnose leaves the kind out of its JSON: it has
// no name there.
func (k Kind) IsZero() bool { return kinds[k.row()].name == "" }

// Of is the kind err carries: the first Kind in its chain. A deadline that
// ran out counts as Unreachable; an error without a kind is Runtime, and
// nil is None.
func Of(err error) Kind {
	var k Kind
	switch {
	case err == nil:
		return None
	case errors.As(err, &k):
		return k
	case errors.Is(err, context.DeadlineExceeded):
		return Unreachable
	}
	return Runtime
}

// Mark returns err with kind k: its message is err's, and Of finds k
// before any kind err carries. Mark(k, nil) is nil.
func Mark(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return marked{k: k, err: err}
}

type marked struct {
	k   Kind
	err error
}

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.k, m.err} }
