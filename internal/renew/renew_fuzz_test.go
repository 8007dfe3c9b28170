package renew

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/vault"
	"github.com/xauth-agent/xauth-agent/internal/vaulttest"
)

// FuzzRenewSelfResponse feeds arbitrary Vault answers to RenewSelf and
// RevokeSelf through vault/api's decoding, and classifies the outcome. It
// must never panic, and the class must follow the answer: a 429 or a 5xx is
// transient with Vault's Retry-After (unless it says the role is gone), any
// other 4xx refuses the renewal, a 2xx without auth data is transient.
func FuzzRenewSelfResponse(f *testing.F) {
	f.Add(uint8(0), "", []byte(`{"auth":{"client_token":"hvs.tok","accessor":"a","policies":["default"],"lease_duration":60,"renewable":true},"warnings":["capped"]}`))
	f.Add(uint8(0), "", []byte(`{"auth":null}`))
	f.Add(uint8(0), "", []byte(`{"auth":{"lease_duration":"60"}}`))
	f.Add(uint8(1), "", []byte(``))
	f.Add(uint8(4), "", []byte(`{"errors":["permission denied"]}`))
	f.Add(uint8(8), "120", []byte(`{"errors":["rate limit quota exceeded"]}`))
	f.Add(uint8(9), "", []byte(`{"errors":["1 error occurred:\n\t* past the max TTL, cannot renew\n\n"]}`))
	f.Add(uint8(9), "", []byte(`{"errors":["role entry not found"]}`))
	f.Add(uint8(10), "", []byte(`{"errors":["IAM principal \"x\" no longer bound to role"]}`))
	f.Add(uint8(12), "Wed, 21 Oct 2099 07:28:00 GMT", []byte(`{"errors":[]}`))

	f.Fuzz(func(t *testing.T, statusIdx uint8, retryAfter string, body []byte) {
		status := vaulttest.Statuses[int(statusIdx)%len(vaulttest.Statuses)]
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		tokens := NewTokenAPI(vaulttest.Client(t, vaulttest.Answer{Status: status, Header: h, Body: body}))

		secret, err := tokens.RenewSelf(context.Background(), "hvs.tok")
		kind, ra := Classify(err)
		var e *vault.Error
		switch {
		case err == nil:
			if status >= 300 || secret == nil || secret.Auth == nil || kind != failure.None {
				t.Fatalf("HTTP %d: success %+v, class %v", status, secret, kind)
			}
		case status == http.StatusTooManyRequests || status >= 500 && kind != failure.RenewRefused:
			if !errors.As(err, &e) || e.Status != status || kind != failure.Unreachable || ra != e.RetryAfter || ra < 0 {
				t.Fatalf("HTTP %d: %v (%T) classed %v, retry after %v; want transient with Vault's Retry-After", status, err, err, kind, ra)
			}
		case status >= 500:
			if !errors.As(err, &e) || e.Status != status || !isRoleGone(e.Errors) {
				t.Fatalf("HTTP %d: %v classed %v; only a gone role refuses with a 5xx", status, err, kind)
			}
		case status >= 400:
			if !errors.As(err, &e) || e.Status != status || kind != failure.RenewRefused || ra != 0 {
				t.Fatalf("HTTP %d: %v (%T) classed %v; want a refused renewal", status, err, err, kind)
			}
		default:
			if !errors.Is(err, failure.Unreachable) || kind != failure.Unreachable || ra != 0 {
				t.Fatalf("HTTP %d without auth data: %v (%T) classed %v; want transient", status, err, err, kind)
			}
		}

		err = tokens.RevokeSelf(context.Background(), "hvs.tok")
		if (err == nil) != (status < 300) {
			t.Fatalf("HTTP %d: revoke-self returned %v", status, err)
		}
	})
}

// FuzzClassify builds error chains the way the agent's packages wrap
// errors (fmt.Errorf with %w, errors.Join) around the kinds of failure,
// from a byte program, and checks that Classify finds the kind and the
// Retry-After the chain carries first (depth first, as errors.As looks): a
// chain with no kind is a deadline (Unreachable) or Runtime.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{1, 30, 8})
	f.Add([]byte{2, 3, 9, 8})
	f.Add([]byte{4, 1, 5, 9, 0, 10})
	f.Add([]byte{6, 7, 9, 3, 10, 8, 8})

	// chain is an error and what it carries first.
	type chain struct {
		err      error
		kind     failure.Kind // failure.None: no kind in it
		ra       time.Duration
		hasRA    bool // it holds a Vault answer (a *vault.Error), whose Retry-After is ra
		deadline bool
	}
	// then is a chain whose unwrapping meets a's parts before b's.
	then := func(err error, a, b chain) chain {
		c := a
		c.err = err
		if c.kind == failure.None {
			c.kind = b.kind
		}
		if !c.hasRA {
			c.ra, c.hasRA = b.ra, b.hasRA
		}
		c.deadline = a.deadline || b.deadline
		return c
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		leaf := func(op, arg byte) chain {
			switch op % 8 {
			case 0:
				return chain{err: &vault.Error{Op: "token renewal", Kind: failure.RenewRefused, Status: 400 + int(arg)%100, Errors: []string{"permission denied"}}, kind: failure.RenewRefused, hasRA: true}
			case 1:
				ra := time.Duration(arg) * time.Second
				return chain{err: &vault.Error{Kind: failure.Unreachable, Status: 500 + int(arg)%100, RetryAfter: ra}, kind: failure.Unreachable, ra: ra, hasRA: true}
			case 2:
				return chain{err: &vault.Error{Op: "login", Kind: failure.Refused, Status: 400 + int(arg)%100, Errors: []string{"entry for role x not found"}}, kind: failure.Refused, hasRA: true}
			case 3:
				return chain{err: fmt.Errorf("%w: imds: timeout", failure.Credentials), kind: failure.Credentials}
			case 4:
				return chain{err: fmt.Errorf("%w: dial tcp: connection refused", failure.Unreachable), kind: failure.Unreachable}
			case 5:
				return chain{err: context.Canceled}
			case 6:
				return chain{err: context.DeadlineExceeded, deadline: true}
			}
			return chain{err: errors.New("something odd")}
		}
		var c chain
		for i := 0; i < len(prog); i++ {
			var arg byte
			if i+1 < len(prog) {
				arg = prog[i+1]
			}
			switch op := prog[i]; {
			case op < 8:
				c = leaf(op, arg)
				i++
			case op%3 == 0 && c.err != nil:
				c.err = fmt.Errorf("step: %w", c.err)
			case op%3 == 1:
				l := leaf(arg, arg)
				if c.err == nil {
					c = l
				} else {
					c = then(errors.Join(c.err, l.err), c, l)
				}
				i++
			default:
				l := leaf(arg, arg)
				c = then(fmt.Errorf("%w; then %w", l.err, c.err), l, c)
				i++
			}
		}

		kind, ra := Classify(c.err)
		want := c.kind
		switch {
		case c.err == nil:
			want = failure.None
		case want == failure.None && c.deadline:
			want = failure.Unreachable
		case want == failure.None:
			want = failure.Runtime
		}
		if kind != want || ra != c.ra {
			t.Fatalf("Classify(%v) = %v, %v; want %v, %v", c.err, kind, ra, want, c.ra)
		}
	})
}

// FuzzNext checks the renew policy on arbitrary states of the kinds the
// loop builds (the lease starts before now; Expires = LeaseStart + Lease;
// the grace is ChooseGrace of the login lease), against its promises:
// pure; never in the past; a renewal only with a token, never at or after
// expiry nor inside the grace; at least MinInterval between a call and the
// next, except the login that replaces a refused renewal; LoginRefusedFloor
// after a refused login; the backoff and Retry-After honoured; and no
// waiting past the grace (beyond those floors).
func FuzzNext(f *testing.F) {
	const s, m, h = int64(time.Second), int64(time.Minute), int64(time.Hour)
	f.Add(false, false, uint8(0), uint8(0), int64(0), int64(0), int64(0), int64(0), 0.5, int64(0), int64(0))
	f.Add(true, true, uint8(0), uint8(0), int64(0), h, h, int64(0), 0.5, int64(0), int64(0))
	f.Add(true, true, uint8(0), uint8(0), int64(0), s, s, int64(0), 0.0, int64(0), int64(0))
	f.Add(true, true, uint8(0), uint8(1), 20*m, 20*m, h, int64(0), 0.9, int64(0), int64(0))
	f.Add(true, false, uint8(1), uint8(1), 55*m, h, h, 5*s, 0.3, 30*s, int64(0))
	f.Add(true, true, uint8(2), uint8(1), 40*m, h, h, s, 0.1, int64(0), int64(0))
	f.Add(true, true, uint8(3), uint8(0), 2*h, h, h, 4*s, 0.7, int64(0), int64(0))
	f.Add(true, true, uint8(1), uint8(1), 59*m, h, h, 2*m, 0.99, 10*m, int64(-m))
	f.Add(false, false, uint8(9), uint8(0), int64(0), int64(0), int64(0), h, 0.5, int64(math.MaxInt64), int64(0))

	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const year = int64(365 * 24 * time.Hour)
	// span maps v into [0, max).
	span := func(v, max int64) time.Duration {
		if v < 0 {
			v = -(v + 1)
		}
		return time.Duration(v % max)
	}

	f.Fuzz(func(t *testing.T, haveToken, renewable bool, lastErr, lastAction uint8,
		sinceStart, lease, loginLease, backoff int64, graceRnd float64, retryAfter, prevExpires int64) {
		st := State{
			LastErr:    failure.Kind(lastErr % 10), // 9: a kind the table does not know
			LastAction: Action(lastAction % 2),
			Backoff:    span(backoff, int64(24*time.Hour)),
			RetryAfter: span(retryAfter, math.MaxInt64),
		}
		if st.LastErr == failure.None {
			st.Backoff, st.RetryAfter = 0, 0
		}
		leaseStart := t0
		now := t0.Add(span(sinceStart, 20*year))
		if haveToken {
			st.HaveToken, st.Renewable = true, renewable
			st.LeaseStart = leaseStart
			st.Lease = span(lease, 10*year)
			st.Expires = leaseStart.Add(st.Lease)
			st.Grace = ChooseGrace(span(loginLease, 10*year), graceRnd)
			if st.LastAction == ActRenew && prevExpires != 0 {
				st.PrevExpires = st.Expires.Add(time.Duration(prevExpires % (10 * year)))
			}
		} else {
			st.LastAction = ActLogin
			now = t0
		}

		d := Next(st, now)
		if d != Next(st, now) {
			t.Fatal("Next is not pure")
		}
		if d.Action != ActLogin && d.Action != ActRenew || d.Reason == "" {
			t.Fatalf("decision %+v", d)
		}
		if d.At.Before(now) {
			t.Fatalf("%+v at %v: scheduled %v in the past", st, now, d.At.Sub(now))
		}
		if d.Action == ActRenew {
			if !st.HaveToken {
				t.Fatalf("%+v: a renewal without a token", st)
			}
			if !d.At.Before(st.Expires) || d.At.After(st.Expires.Add(-st.Grace)) {
				t.Fatalf("%+v at %v: renewal at %v, expiry %v, grace %v", st, now, d.At, st.Expires, st.Grace)
			}
		}
		after := d.At.Sub(now)
		switch {
		case st.LastErr == failure.None:
			if !st.HaveToken {
				if d.Action != ActLogin || !d.At.Equal(now) {
					t.Fatalf("no token: %+v, want a login now", d)
				}
				return
			}
			floor := st.LeaseStart.Add(MinInterval)
			if (d.Action == ActRenew || st.LastAction == ActLogin) && d.At.Before(floor) {
				t.Fatalf("%+v at %v: %v is less than MinInterval after the lease began", st, now, d.At)
			}
			if st.Lease > 0 {
				latest := laterOf(laterOf(st.Expires.Add(-st.Grace), floor), now)
				if d.At.After(latest) {
					t.Fatalf("%+v at %v: %v waits past the grace (latest %v)", st, now, d.At, latest)
				}
			}
		case st.LastErr.Retry() == failure.LoginNow:
			if d.Action != ActLogin || !d.At.Equal(now) {
				t.Fatalf("renewal refused: %+v, want a login now", d)
			}
		case st.LastErr.Retry() == failure.LoginSlowly:
			if d.Action != ActLogin || after < max(LoginRefusedFloor, st.Backoff, st.RetryAfter) {
				t.Fatalf("login refused: %+v after %v, want a login after at least %v", d, after, LoginRefusedFloor)
			}
		default:
			if after < max(MinInterval, st.Backoff, st.RetryAfter) {
				t.Fatalf("%v failure: retry after %v, less than the backoff %v / Retry-After %v / MinInterval", st.LastErr, after, st.Backoff, st.RetryAfter)
			}
			if st.LastAction == ActLogin && d.Action != ActLogin {
				t.Fatalf("a failed login is followed by %v", d.Action)
			}
		}
	})
}
