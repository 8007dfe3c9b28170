// Package renew runs the token lifecycle: log in, renew, log in again.
//
// Next is the policy, a pure function of State and the time: it says
// whether to log in or renew next, and when. Renewals come at two thirds
// of the remaining lease; a login replaces the token when renewing stops
// extending it (max TTL), when Vault refuses the renewal, and before the
// token comes within its grace (a random 10-20 % of the login lease) of
// expiry. Failures are classified by their kind (Classify, package
// failure) and retried with a jittered exponential backoff (package
// backoff), never sooner than Vault's Retry-After; a refused login is
// retried no sooner than LoginRefusedFloor, and MinInterval keeps short
// leases from turning into hot loops. A requested renewal (State.Requested)
// is due at once.
//
// Loop is the short loop around the policy: it calls Vault through
// Authenticator (a *login.Client) and TokenAPI (NewTokenAPI), and writes
// each token and each step to its token.Latest, which the sinks and
// everything else that tells of the token read; the last good token stays
// there through outages. Loop.RenewNow asks for a renewal now (the
// daemon's SIGUSR1); Loop.Resume makes a kept token, which lookup-self
// vouches for, the first token instead of a login (the daemon's restart).
// Every wait is logged with its duration; the token's accessor is logged,
// never the token.
package renew
