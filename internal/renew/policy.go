package renew

import (
	"fmt"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// Action is the next step against Vault.
type Action int

const (
	ActLogin Action = iota // log in (again) for a new token
	ActRenew               // renew the current token (renew-self)
)

func (a Action) String() string {
	switch a {
	case ActLogin:
		return "login"
	case ActRenew:
		return "renew"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Limits that keep the loop from hammering Vault whatever the lease.
const (
	// MinInterval is the shortest wait the policy schedules after a Vault
	// call: a renewal is never due less than MinInterval after the login or
	// renewal that started the current lease, a login never less than
	// MinInterval after the previous login, and a retry after a failure
	// never less than MinInterval away. The only step that follows another
	// at once is the login that replaces a token whose renewal was refused
	// or stopped extending the lease. So even a lease of a few hundred
	// milliseconds costs at most two requests a second, and a long one costs
	// a renewal per two thirds of it.
	MinInterval = time.Second

	// LoginRefusedFloor is the shortest wait before logging in again after
	// Vault refused a login (4xx). A refusal is a configuration problem
	// (role, binding, header, region) that an operator has to fix; retrying
	// slowly picks up the fix without loading Vault.
	LoginRefusedFloor = 30 * time.Second

	// NoLeaseRelogin is how long a token without a lease (lease_duration 0:
	// it never expires) is kept before logging in again. The aws auth method
	// always grants a lease; this only keeps such a token from causing a
	// loop.
	NoLeaseRelogin = time.Hour
)

// State is what the policy knows about the token and the last step. The
// loop owns it; Next only reads it.
type State struct {
	HaveToken   bool
	Renewable   bool
	LeaseStart  time.Time     // when the current lease (from login or last renewal) began
	Lease       time.Duration // lease duration of that answer
	Expires     time.Time     // LeaseStart + Lease
	PrevExpires time.Time     // expiry before the last renewal (zero after a login)
	Grace       time.Duration // chosen once per token: random 10-20 % of the login lease (ChooseGrace)
	LastErr     failure.Kind  // failure.None after a success
	LastAction  Action
	RetryAfter  time.Duration // from the last 429/503
	Backoff     time.Duration // the wait the caller drew from Backoff.Next for this failure
	Requested   bool          // a renewal was asked for now (SIGUSR1, a token taken over at start)
}

// Decision is the next step and when to take it. Reason is for the log.
type Decision struct {
	Action Action
	At     time.Time
	Reason string
}

// ChooseGrace returns the grace period for a token whose login lease is
// lease: 10 % of it plus rnd·10 %, rnd in [0, 1). The token is replaced no
// later than its expiry minus the grace; the random part spreads the
// re-logins of agents that logged in together.
func ChooseGrace(lease time.Duration, rnd float64) time.Duration {
	rnd = backoff.Unit(rnd)
	return lease/10 + time.Duration(rnd*float64(lease/10))
}

// Next decides the next step. It is pure: the same State and now always
// give the same Decision.
//
//   - No token: log in now.
//   - A renewable token is renewed at two thirds of its remaining lease.
//     It is replaced by a login when a renewal no longer extends the lease
//     (max TTL reached), when the renewed lease is too short to renew again
//     before the grace, when the token would expire within the grace, and
//     when a renewal is refused.
//   - A non-renewable token is replaced at two thirds of its lease, and no
//     later than its expiry minus the grace.
//   - A transient failure retries the same step after max(Backoff,
//     RetryAfter); a renewal whose retry would fall inside the grace, or
//     after expiry, becomes a login (at the same time).
//   - A refused login is retried after max(Backoff, RetryAfter,
//     LoginRefusedFloor).
//   - A requested renewal (Requested) comes first, whatever the wait: renew
//     now; log in now when there is no token or it is not renewable.
//
// See MinInterval for the floor that keeps short leases from hot-looping.
func Next(s State, now time.Time) Decision {
	switch {
	case s.Requested && !s.HaveToken:
		return Decision{ActLogin, now, "renewal requested, no token: log in"}
	case s.Requested && !s.Renewable:
		return Decision{ActLogin, now, "renewal requested, token not renewable: log in"}
	case s.Requested:
		return Decision{ActRenew, now, "renewal requested: renew now"}
	}
	if s.LastErr != failure.None {
		return afterFailure(s, now)
	}
	if !s.HaveToken {
		return Decision{ActLogin, now, "no token: log in"}
	}
	return afterSuccess(s, now)
}

func afterFailure(s State, now time.Time) Decision {
	wait := max(s.Backoff, s.RetryAfter, MinInterval)
	switch s.LastErr.Retry() {
	case failure.LoginNow:
		return Decision{ActLogin, now, "renewal refused: log in again"}
	case failure.LoginSlowly:
		return Decision{ActLogin, now.Add(max(wait, LoginRefusedFloor)), "login refused: retry slowly"}
	}
	// failure.RetryLater: retry the same step.
	at := now.Add(wait)
	if !s.HaveToken || s.LastAction == ActLogin {
		return Decision{ActLogin, at, "login failed: retry after backoff"}
	}
	if !now.Before(s.Expires) {
		return Decision{ActLogin, at, "token expired while renewal failed: log in"}
	}
	if at.After(s.Expires.Add(-s.Grace)) || !at.Before(s.Expires) {
		return Decision{ActLogin, at, "renewal retry would fall inside the grace: log in instead"}
	}
	return Decision{ActRenew, at, "renewal failed: retry after backoff"}
}

func afterSuccess(s State, now time.Time) Decision {
	// floor keeps the next step at least MinInterval after the call that
	// started this lease; a login right after a renewal is exempt (it
	// replaces a lease that renewing cannot keep alive).
	floor := func(d Decision) Decision {
		if d.Action == ActRenew || s.LastAction == ActLogin {
			d.At = laterOf(d.At, s.LeaseStart.Add(MinInterval))
		}
		d.At = laterOf(d.At, now)
		return d
	}
	if s.Lease <= 0 {
		return floor(Decision{ActLogin, s.LeaseStart.Add(NoLeaseRelogin), "token has no lease: log in again later"})
	}
	deadline := s.Expires.Add(-s.Grace)
	if !now.Before(deadline) {
		return floor(Decision{ActLogin, now, "token expires within the grace: log in again"})
	}
	twoThirds := now.Add(s.Expires.Sub(now) * 2 / 3)
	if !s.Renewable {
		return floor(Decision{ActLogin, earlierOf(twoThirds, deadline), "token is not renewable: replace it before it expires"})
	}
	if s.LastAction == ActRenew && !s.PrevExpires.IsZero() && !s.Expires.After(s.PrevExpires) {
		return floor(Decision{ActLogin, now, "renewal no longer extends the lease (max ttl reached): log in again"})
	}
	next := laterOf(twoThirds, s.LeaseStart.Add(MinInterval))
	if !next.Before(deadline) {
		return floor(Decision{ActLogin, deadline, "lease too short to renew again before the grace: log in at the grace"})
	}
	return floor(Decision{ActRenew, next, "renew at two thirds of the remaining lease"})
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
