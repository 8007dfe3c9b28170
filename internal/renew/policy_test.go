package renew

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// leased is a state holding a token whose lease started at start.
func leased(start time.Time, lease, grace time.Duration, renewable bool) State {
	return State{HaveToken: true, Renewable: renewable, LeaseStart: start, Lease: lease,
		Expires: start.Add(lease), Grace: grace, LastAction: ActLogin}
}

// with applies changes to a copy of s.
func with(s State, f func(*State)) State { f(&s); return s }

func TestNext(t *testing.T) {
	const (
		s = time.Second
		m = time.Minute
		h = time.Hour
	)
	fresh := leased(t0, h, 9*m, true) // just logged in: 1h lease, 15 % grace
	renewed := func(start time.Time, lease time.Duration, prevExpires time.Time) State {
		return with(leased(start, lease, 9*m, true), func(st *State) { st.LastAction = ActRenew; st.PrevExpires = prevExpires })
	}
	renewFailed := func(st State, backoff, retryAfter time.Duration) State {
		return with(st, func(st *State) {
			st.LastErr, st.LastAction, st.Backoff, st.RetryAfter = failure.Unreachable, ActRenew, backoff, retryAfter
		})
	}
	loginFailed := func(st State, kind failure.Kind, backoff, retryAfter time.Duration) State {
		return with(st, func(st *State) {
			st.LastErr, st.LastAction, st.Backoff, st.RetryAfter = kind, ActLogin, backoff, retryAfter
		})
	}
	tests := []struct {
		name   string
		s      State
		now    time.Time
		action Action
		at     time.Time
		reason string // substring of Reason
	}{
		// No token.
		{"start: log in now", State{}, t0, ActLogin, t0, "no token"},
		{"login failed: after the backoff", loginFailed(State{}, failure.Unreachable, 4*s, 0), t0, ActLogin, t0.Add(4 * s), "login failed"},
		{"credentials missing: transient", loginFailed(State{}, failure.Credentials, 8*s, 0), t0, ActLogin, t0.Add(8 * s), "login failed"},
		{"login 429: Retry-After 30s beats a 1s backoff", loginFailed(State{}, failure.Unreachable, s, 30*s), t0, ActLogin, t0.Add(30 * s), "login failed"},
		{"backoff longer than Retry-After wins", loginFailed(State{}, failure.Unreachable, 2*m, 30*s), t0, ActLogin, t0.Add(2 * m), "login failed"},
		{"zero backoff is floored to MinInterval", loginFailed(State{}, failure.Unreachable, 0, 0), t0, ActLogin, t0.Add(MinInterval), "login failed"},
		{"login refused: floor of 30s", loginFailed(State{}, failure.Refused, s, 0), t0, ActLogin, t0.Add(LoginRefusedFloor), "login refused"},
		{"login refused: a longer backoff wins", loginFailed(State{}, failure.Refused, 4*m, 0), t0, ActLogin, t0.Add(4 * m), "login refused"},
		{"login refused while the old token lives: still slow", loginFailed(fresh, failure.Refused, s, 0), t0.Add(55 * m), ActLogin, t0.Add(55*m + LoginRefusedFloor), "login refused"},

		// Normal renewal at two thirds of the remaining lease.
		{"fresh token: renew at 2/3 of the lease", fresh, t0, ActRenew, t0.Add(40 * m), "two thirds"},
		{"decided late: 2/3 of what remains", fresh, t0.Add(30 * m), ActRenew, t0.Add(50 * m), "two thirds"},
		{"renewal extended the lease: renew at 2/3", renewed(t0, h, t0.Add(20*m)), t0, ActRenew, t0.Add(40 * m), "two thirds"},

		// Max TTL: renewal no longer extends the lease.
		{"renewal did not extend: log in now", renewed(t0, 20*m, t0.Add(20*m)), t0, ActLogin, t0, "max ttl"},
		{"renewal shortened the expiry: log in now", renewed(t0, 19*m, t0.Add(20*m)), t0, ActLogin, t0, "max ttl"},
		{"capped lease ends within the grace: log in now", renewed(t0, 8*m, t0.Add(-m)), t0, ActLogin, t0, "within the grace"},
		{"capped lease too short to renew again: log in at the grace", renewed(t0, 20*m, t0.Add(15*m)), t0, ActLogin, t0.Add(11 * m), "too short"},

		// Non-renewable tokens are replaced before expiry.
		{"non-renewable: log in at 2/3", leased(t0, h, 9*m, false), t0, ActLogin, t0.Add(40 * m), "not renewable"},
		{"non-renewable: never after expiry minus grace", leased(t0, h, 25*m, false), t0, ActLogin, t0.Add(35 * m), "not renewable"},
		{"non-renewable inside its grace: log in now", leased(t0, h, 9*m, false), t0.Add(52 * m), ActLogin, t0.Add(52 * m), "within the grace"},

		// Refusal.
		{"renewal refused: log in now", with(fresh, func(st *State) { st.LastErr, st.LastAction, st.Backoff = failure.RenewRefused, ActRenew, s }),
			t0.Add(40 * m), ActLogin, t0.Add(40 * m), "refused"},

		// Transient renewal failures.
		{"renewal failed: retry the renewal", renewFailed(fresh, s, 0), t0.Add(40 * m), ActRenew, t0.Add(40*m + s), "renewal failed"},
		{"renewal 429: Retry-After 30s", renewFailed(fresh, s, 30*s), t0.Add(40 * m), ActRenew, t0.Add(40*m + 30*s), "renewal failed"},
		{"renewal retry past the grace: log in instead", renewFailed(fresh, 5*m, 0), t0.Add(48 * m), ActLogin, t0.Add(53 * m), "inside the grace"},
		{"retry at expiry with no grace: log in", renewFailed(leased(t0, h, 0, true), 5*m, 0), t0.Add(55 * m), ActLogin, t0.Add(h), "inside the grace"},
		{"token expired during the outage: log in", renewFailed(fresh, 2*m, 0), t0.Add(61 * m), ActLogin, t0.Add(63 * m), "expired"},
		{"re-login failed while the old token lives: login again, not renew", loginFailed(fresh, failure.Unreachable, 2*s, 0), t0.Add(52 * m), ActLogin, t0.Add(52*m + 2*s), "login failed"},

		// Floors for tiny leases.
		{"tiny lease: renew no sooner than 1s after the last renewal",
			with(renewed(t0, 1400*time.Millisecond, t0.Add(-time.Millisecond)), func(st *State) { st.Grace = 100 * time.Millisecond }),
			t0, ActRenew, t0.Add(MinInterval), "two thirds"},
		{"tiny lease after a login: next step no sooner than 1s",
			leased(t0, 600*time.Millisecond, 90*time.Millisecond, true), t0, ActLogin, t0.Add(MinInterval), "too short"},
		{"tiny non-renewable lease: no login loop", leased(t0, 300*time.Millisecond, 45*time.Millisecond, false), t0, ActLogin, t0.Add(MinInterval), "not renewable"},
		{"tiny lease after a renewal: log in at the grace, not held back by the floor",
			with(renewed(t0, 1100*time.Millisecond, t0.Add(-time.Millisecond)), func(st *State) { st.Grace = 200 * time.Millisecond }),
			t0, ActLogin, t0.Add(900 * time.Millisecond), "too short"},

		// A token without a lease does not expire.
		{"no lease: log in again in an hour", leased(t0, 0, 0, false), t0, ActLogin, t0.Add(NoLeaseRelogin), "no lease"},

		// A requested renewal (SIGUSR1, a token taken over at start) is due now.
		{"requested: renew now, not at 2/3", with(fresh, func(st *State) { st.Requested = true }), t0.Add(m), ActRenew, t0.Add(m), "requested"},
		{"requested right after a renewal: no floor", with(renewed(t0, h, t0.Add(-m)), func(st *State) { st.Requested = true }), t0, ActRenew, t0, "requested"},
		{"requested during a renewal backoff: renew now", with(renewFailed(fresh, 4*m, 0), func(st *State) { st.Requested = true }), t0.Add(40 * m), ActRenew, t0.Add(40 * m), "requested"},
		{"requested after a refused login: log in now", with(loginFailed(State{}, failure.Refused, s, 0), func(st *State) { st.Requested = true }), t0, ActLogin, t0, "no token"},
		{"requested, not renewable: log in now", with(leased(t0, h, 9*m, false), func(st *State) { st.Requested = true }), t0.Add(m), ActLogin, t0.Add(m), "not renewable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Next(tt.s, tt.now)
			if d.Action != tt.action || !d.At.Equal(tt.at) {
				t.Errorf("Next = %v at %v (%q), want %v at %v",
					d.Action, d.At.Sub(tt.now), d.Reason, tt.action, tt.at.Sub(tt.now))
			}
			if d.Reason == "" || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
			if d.At.Before(tt.now) {
				t.Errorf("decision in the past: %v", d.At.Sub(tt.now))
			}
		})
	}
}

func TestChooseGrace(t *testing.T) {
	lease := time.Hour
	if g := ChooseGrace(lease, 0); g != 6*time.Minute {
		t.Errorf("rnd 0: grace %v, want 10 %% (6m)", g)
	}
	if g := ChooseGrace(lease, 1); g != 12*time.Minute {
		t.Errorf("rnd 1: grace %v, want 20 %% (12m)", g)
	}
	for _, rnd := range []float64{math.NaN(), math.Inf(-1), -1} {
		if g := ChooseGrace(lease, rnd); g != 6*time.Minute {
			t.Errorf("rnd %v: grace %v, want 10 %% (6m)", rnd, g)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := lease, time.Duration(0)
	for range 1000 {
		g := ChooseGrace(lease, r.Float64())
		lo, hi = min(lo, g), max(hi, g)
	}
	if lo < 6*time.Minute || hi > 12*time.Minute {
		t.Errorf("grace ranged over [%v, %v], want within [6m, 12m]", lo, hi)
	}
	if hi-lo < 5*time.Minute {
		t.Errorf("grace ranged over [%v, %v]: too little jitter", lo, hi)
	}
}

// TestNextGraceJitter: with the grace drawn per token, a short renewal
// answer sends agents to log in at different times, all between 10 % and
// 20 % of the login lease before expiry.
func TestNextGraceJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		s := leased(t0, time.Hour, ChooseGrace(time.Hour, r.Float64()), false)
		s.Lease, s.Expires = 15*time.Minute, t0.Add(15*time.Minute) // the lease a capped renewal left
		s.Renewable = true
		s.LastAction, s.PrevExpires = ActRenew, t0.Add(10*time.Minute)
		d := Next(s, t0)
		if d.Action != ActLogin {
			t.Fatalf("grace %v: %v at %v, want a login", s.Grace, d.Action, d.At.Sub(t0))
		}
		if before := s.Expires.Sub(d.At); before < 6*time.Minute || before > 12*time.Minute {
			t.Fatalf("grace %v: login %v before expiry, want 6m..12m", s.Grace, before)
		}
	}
}

// TestNextOutage drives the policy through an outage of a 60 s token the
// way the loop does: every call fails, the backoff draws the next wait.
func TestNextOutage(t *testing.T) {
	var b backoff.Backoff
	s := leased(t0, time.Minute, 9*time.Second, true)
	now := t0
	var (
		calls   []time.Time
		renews  int
		logins  int
		prevAt  time.Time
		success = t0.Add(10 * time.Minute)
	)
	d := Next(s, now)
	for d.At.Before(success) {
		now = d.At
		if !prevAt.IsZero() && now.Sub(prevAt) < MinInterval {
			t.Fatalf("calls %v apart", now.Sub(prevAt))
		}
		prevAt = now
		calls = append(calls, now)
		if d.Action == ActRenew {
			renews++
			if !now.Before(s.Expires.Add(-s.Grace)) {
				t.Fatalf("renewal at %v, inside the grace (expires %v)", now.Sub(t0), s.Expires.Sub(t0))
			}
		} else {
			logins++
		}
		s.LastErr, s.LastAction, s.Backoff = failure.Unreachable, d.Action, b.Next(0.5)
		d = Next(s, now)
	}
	if len(calls) > 15 {
		t.Errorf("%d calls in a 10 minute outage, want <= 15: %v", len(calls), calls)
	}
	if renews == 0 || logins == 0 {
		t.Errorf("renewals %d, logins %d: want renewal retries, then logins once the token dies", renews, logins)
	}
	if d.Action != ActLogin {
		t.Errorf("after the token expired the pending step is %v, want login", d.Action)
	}
	// Success: the backoff resets, the next failure waits Min again.
	b.Reset()
	s = leased(d.At, time.Minute, 9*time.Second, true)
	s.LastErr, s.LastAction, s.Backoff = failure.Unreachable, ActRenew, b.Next(0)
	if got := Next(s, d.At.Add(40*time.Second)); got.Action != ActRenew || got.At.Sub(d.At.Add(40*time.Second)) != time.Second {
		t.Errorf("after success the first retry is %v in %v, want renew in 1s", got.Action, got.At.Sub(d.At.Add(40*time.Second)))
	}
}

// TestNextNeverHotLoops: whatever the state, a retry is at least
// MinInterval away, and after a success the next renewal is at least
// MinInterval after the lease began.
func TestNextNeverHotLoops(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		lease := time.Duration(r.Int64N(int64(10 * time.Second)))
		start := t0.Add(-time.Duration(r.Int64N(int64(12 * time.Second))))
		s := leased(start, lease, ChooseGrace(lease, r.Float64()), r.IntN(2) == 0)
		s.LastAction = Action(r.IntN(2))
		if r.IntN(2) == 0 {
			s.PrevExpires = s.Expires.Add(time.Duration(r.Int64N(int64(4*time.Second))) - 2*time.Second)
		}
		s.LastErr = failure.Kind(r.IntN(10))
		s.Backoff = time.Duration(r.Int64N(int64(2 * time.Second)))
		d := Next(s, t0)
		switch {
		case d.At.Before(t0):
			t.Fatalf("%+v: decision in the past", s)
		case s.LastErr.Retry() == failure.LoginNow:
			if d.Action != ActLogin || !d.At.Equal(t0) {
				t.Fatalf("%+v: refused renewal gave %+v", s, d)
			}
		case s.LastErr != failure.None && d.At.Sub(t0) < MinInterval:
			t.Fatalf("%+v: retry %v after a failure", s, d.At.Sub(t0))
		case d.Action == ActRenew && d.At.Sub(s.LeaseStart) < MinInterval:
			t.Fatalf("%+v: renewal %v after the last one", s, d.At.Sub(s.LeaseStart))
		case d.Action == ActRenew && !d.At.Before(s.Expires):
			t.Fatalf("%+v: renewal scheduled after expiry", s)
		}
	}
}
