package renew

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap/zaptest"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// fakeVault models what the loop sees of Vault: logins issue tokens with
// a TTL and a max TTL, renewals extend them up to the max TTL (reporting
// whole seconds, as Vault does), an expired or revoked token gets 403, and
// the whole server can be taken down or made to answer 429.
type fakeVault struct {
	mu     sync.Mutex
	ttl    time.Duration
	maxTTL time.Duration
	tokens map[string]*fakeToken
	seq    int
	calls  []fakeCall

	down        bool          // every call fails as unreachable
	limited     int           // this many next calls answer 429 ...
	retryAfter  time.Duration // ... with this Retry-After
	refuseLogin bool          // logins answer 400
	blockLogin  bool          // logins hang until their ctx ends
}

type fakeToken struct {
	expires, maxEnd time.Time
	revoked         bool
}

type fakeCall struct {
	at  time.Time
	op  string // "login" or "renew"
	err error
}

func newFakeVault(ttl, maxTTL time.Duration) *fakeVault {
	return &fakeVault{ttl: ttl, maxTTL: maxTTL, tokens: map[string]*fakeToken{}}
}

func (f *fakeVault) set(fn func(f *fakeVault)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// refuse records the call and returns the outage or rate-limit error, if any.
func (f *fakeVault) refuse(op string, now time.Time) error {
	var err error
	switch {
	case f.down:
		err = fmt.Errorf("%w: dial tcp 127.0.0.1:8200: connect: connection refused", failure.Unreachable)
	case f.limited > 0:
		f.limited--
		err = &vault.Error{Kind: failure.Unreachable, Status: 429, Errors: []string{"rate limit quota exceeded"}, RetryAfter: f.retryAfter}
	case op == "login" && f.refuseLogin:
		err = &vault.Error{Op: "login", Kind: failure.Refused, Status: 400, Errors: []string{`IAM Principal "arn:aws:sts::1:assumed-role/app/i-1" does not belong to the role "app"`}}
	}
	f.calls = append(f.calls, fakeCall{now, op, err})
	return err
}

func authSecret(token string, ttl time.Duration) *api.Secret {
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken: token, Accessor: "acc-" + token, Policies: []string{"default"},
		LeaseDuration: int(ttl / time.Second), Renewable: true,
	}}
}

func (f *fakeVault) Login(ctx context.Context) (*api.Secret, error) {
	f.mu.Lock()
	if f.blockLogin {
		f.mu.Unlock()
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %w", failure.Unreachable, ctx.Err())
	}
	defer f.mu.Unlock()
	now := time.Now()
	if err := f.refuse("login", now); err != nil {
		return nil, err
	}
	f.seq++
	tok := fmt.Sprintf("hvs.token-%d", f.seq)
	ttl := min(f.ttl, f.maxTTL)
	f.tokens[tok] = &fakeToken{expires: now.Add(ttl), maxEnd: now.Add(f.maxTTL)}
	return authSecret(tok, ttl), nil
}

func (f *fakeVault) RenewSelf(_ context.Context, token string) (*api.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if err := f.refuse("renew", now); err != nil {
		return nil, err
	}
	t := f.tokens[token]
	if t == nil || t.revoked || !now.Before(t.expires) {
		err := &vault.Error{Op: "token renewal", Kind: failure.RenewRefused, Status: 403, Errors: []string{"permission denied"}}
		f.calls[len(f.calls)-1].err = err
		return nil, err
	}
	ttl := min(f.ttl, t.maxEnd.Sub(now))
	t.expires = now.Add(ttl)
	s := authSecret(token, ttl)
	if ttl < f.ttl {
		s.Warnings = []string{"TTL value is capped accordingly"}
	}
	return s, nil
}

func (f *fakeVault) RevokeSelf(_ context.Context, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.tokens[token]; t != nil {
		t.revoked = true
	}
	return nil
}

func (f *fakeVault) LookupSelf(_ context.Context, token string) (*api.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if err := f.refuse("lookup", now); err != nil {
		return nil, err
	}
	t := f.tokens[token]
	if t == nil || t.revoked || !now.Before(t.expires) {
		return nil, &vault.Error{Op: "token lookup", Kind: failure.RenewRefused, Status: 403, Errors: []string{"permission denied"}}
	}
	return &api.Secret{Data: map[string]any{
		"accessor": "acc-" + token, "path": "auth/aws/login", "renewable": true, "policies": []any{"default"},
		"ttl":          json.Number(fmt.Sprint(int(t.expires.Sub(now).Seconds()))),
		"creation_ttl": json.Number(fmt.Sprint(int(f.ttl.Seconds()))),
	}}, nil
}

// valid says whether Vault would accept token at the instant at.
func (f *fakeVault) valid(token string, at time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[token]
	return t != nil && !t.revoked && at.Before(t.expires)
}

func (f *fakeVault) callsBetween(from, to time.Time) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if !c.at.Before(from) && c.at.Before(to) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeVault) count(op string, ok bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.op == op && (c.err == nil) == ok {
			n++
		}
	}
	return n
}

type published struct {
	at  time.Time
	tok token.Token
}

// recorder reads the loop's State as the sinks do: each new generation
// is a published token, with when it arrived.
type recorder struct {
	state *token.Latest
	mu    sync.Mutex
	pubs  []published
}

// watch records each new generation until ctx ends.
func (r *recorder) watch(ctx context.Context) {
	var gen uint64
	for {
		st, changed := r.state.Load()
		if st.Generation != gen {
			gen = st.Generation
			r.mu.Lock()
			r.pubs = append(r.pubs, published{time.Now(), st.Token})
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (r *recorder) published() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.pubs...)
}

// start runs a Loop against f inside the current bubble and returns a stop
// function that cancels it and checks that Run returned nil at once. opts
// adjust the Loop before it runs.
func start(t *testing.T, f *fakeVault, opts ...func(*Loop)) (*Loop, *recorder, func()) {
	t.Helper()
	rec := &recorder{state: token.NewLatest()}
	l := &Loop{
		Auth: f, Tokens: f, State: rec.state,
		Log:  zaptest.NewLogger(t).Named("renew"),
		Rand: func() float64 { return 0.5 },
	}
	for _, o := range opts {
		o(l)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	go rec.watch(ctx)
	stop := func() {
		t.Helper()
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		default:
			t.Fatal("Run did not return after cancel")
		}
	}
	return l, rec, stop
}

// checkNeverExpired: every published token was still valid when the next
// one replaced it (or at end, for the last). Renewing an expired token is
// refused, so a token's life is one interval and its final expiry decides.
func checkNeverExpired(t *testing.T, f *fakeVault, pubs []published, end time.Time) {
	t.Helper()
	for i, p := range pubs {
		until := end
		if i+1 < len(pubs) {
			until = pubs[i+1].at
		}
		if !f.valid(p.tok.Token, until.Add(-time.Nanosecond)) || !f.valid(p.tok.Token, p.at) {
			t.Errorf("published token %s (at %v) expired before it was replaced at %v", p.tok.Accessor, p.at, until)
		}
	}
}

func TestLoopNormalLife(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(4*time.Second, 12*time.Second)
		l, rec, stop := start(t, f)
		begin := time.Now()

		// Read the current token concurrently, as the status API does.
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for range 300 {
				l.Current()
				time.Sleep(100 * time.Millisecond)
			}
		}()
		time.Sleep(30 * time.Second) // virtual time
		<-readerDone
		stop()

		renewals, logins := f.count("renew", true), f.count("login", true)
		if renewals < 2 || logins < 2 {
			t.Errorf("%d renewals and %d logins in 30s, want >= 2 renewals and >= 1 re-login", renewals, logins)
		}
		pubs := rec.published()
		if len(pubs) != logins {
			t.Errorf("%d publishes for %d logins: renewals must not republish, new tokens publish once", len(pubs), logins)
		}
		seen := map[string]bool{}
		for _, p := range pubs {
			if seen[p.tok.Token] {
				t.Errorf("token %s published twice", p.tok.Accessor)
			}
			seen[p.tok.Token] = true
		}
		if st, _ := rec.state.Load(); st.Generation != uint64(len(pubs)) || st.Logins != uint64(logins) || st.Renewals != uint64(renewals) {
			t.Errorf("state counts generation %d, %d logins and %d renewals; want %d, %d and %d", st.Generation, st.Logins, st.Renewals, len(pubs), logins, renewals)
		}
		checkNeverExpired(t, f, pubs, time.Now())
		if cur, ok := l.Current(); !ok || cur.Token != pubs[len(pubs)-1].tok.Token {
			t.Errorf("Current() = %s, %v; want the last published token", cur.Accessor, ok)
		}
		// No two calls less than MinInterval apart, except a login right
		// after a renewal that could not extend the lease.
		calls := f.callsBetween(begin, time.Now())
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].at.Sub(calls[i-1].at); gap < MinInterval && !(calls[i-1].op == "renew" && calls[i].op == "login") {
				t.Errorf("%s %v after %s", calls[i].op, gap, calls[i-1].op)
			}
		}
	})
}

// TestLoopOutage: a 10 minute outage, whatever the jitter draws (the
// shortest waits come with rnd near 1).
func TestLoopOutage(t *testing.T) {
	for _, rnd := range []float64{0, 0.5, 0.999} {
		t.Run(fmt.Sprintf("rnd %v", rnd), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testOutage(t, rnd) })
		})
	}
}

func testOutage(t *testing.T, rnd float64) {
	f := newFakeVault(time.Minute, time.Hour)
	l, rec, stop := start(t, f, func(l *Loop) { l.Rand = func() float64 { return rnd } })
	defer stop()
	time.Sleep(30 * time.Second)
	first, _ := l.Current()

	f.set(func(f *fakeVault) { f.down = true })
	outageStart := time.Now()
	time.Sleep(10 * time.Minute)
	f.set(func(f *fakeVault) { f.down = false })
	outageEnd := time.Now()

	calls := f.callsBetween(outageStart, outageEnd)
	if len(calls) > 15 {
		t.Errorf("%d vault requests during a 10 minute outage, want <= 15", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < MinInterval {
			t.Errorf("requests %v apart during the outage", gap)
		}
	}
	if cur, _ := l.Current(); cur.Token != first.Token || len(rec.published()) != 1 {
		t.Errorf("the last good token was replaced or withdrawn during the outage")
	}
	if last := calls[len(calls)-1]; last.op != "login" {
		t.Errorf("the token expired during the outage but the loop still tries to %s", last.op)
	}

	// Vault is back: the pending attempt, due within the current
	// backoff step, brings a fresh token.
	pending, _ := rec.state.Load()
	step := pending.Next.Sub(calls[len(calls)-1].at)
	if step > backoff.DefaultMax {
		t.Errorf("backoff step %v above the cap", step)
	}
	time.Sleep(time.Until(pending.Next))
	synctest.Wait()
	pubs := rec.published()
	if len(pubs) != 2 {
		t.Fatalf("no new token %v after vault came back (%s at +%v)", time.Since(outageEnd), pending.Step, pending.Next.Sub(outageEnd))
	}
	if pubs[1].at.Sub(outageEnd) > step {
		t.Errorf("new token published %v after vault came back, more than the backoff step %v", pubs[1].at.Sub(outageEnd), step)
	}
	t.Logf("outage: %d requests; new token %v after vault came back (step %v)", len(calls), pubs[1].at.Sub(outageEnd), step)
}

// TestLoopRecoversWithinTheOutage: after an outage that outlives the
// 30 s token, the new token arrives within backoff.Growth of the time the
// calls failed (plus Min) after Vault's return, whatever the jitter draws and however
// the return falls between two attempts: a fleet that lost Vault for a
// minute is whole again within the next minute.
func TestLoopRecoversWithinTheOutage(t *testing.T) {
	for _, rnd := range []float64{0, 0.5, 0.999} {
		for outage := 40 * time.Second; outage <= 80*time.Second; outage += 1300 * time.Millisecond {
			t.Run(fmt.Sprintf("rnd %v outage %v", rnd, outage), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					f := newFakeVault(30*time.Second, time.Hour)
					_, rec, stop := start(t, f, func(l *Loop) { l.Rand = func() float64 { return rnd } })
					defer stop()
					time.Sleep(25 * time.Second)
					f.set(func(f *fakeVault) { f.down = true })
					down := time.Now()
					time.Sleep(outage)
					f.set(func(f *fakeVault) { f.down = false })
					back := time.Now()
					failing := back.Sub(f.callsBetween(down, back)[0].at) // since the first failed call
					bound := time.Duration(backoff.Growth * float64(failing+backoff.DefaultMin))
					time.Sleep(bound)
					synctest.Wait()
					pubs := rec.published()
					if len(pubs) != 2 {
						t.Fatalf("%d tokens published; want the first and a new one within %v of Vault's return", len(pubs), bound)
					}
					if late := pubs[1].at.Sub(back); late > bound {
						t.Errorf("new token %v after Vault's return, want <= %v", late, bound)
					}
				})
			})
		}
	}
}

// TestLoopShortOutage: an outage shorter than the lease is bridged by
// renewal retries; the same token stays and is not republished.
func TestLoopShortOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(time.Hour, 24*time.Hour)
		_, rec, stop := start(t, f)
		defer stop()
		time.Sleep(39 * time.Minute)
		f.set(func(f *fakeVault) { f.down = true })
		time.Sleep(3 * time.Minute)
		f.set(func(f *fakeVault) { f.down = false })
		time.Sleep(3 * time.Minute)
		if n := f.count("renew", true); n != 1 {
			t.Errorf("%d successful renewals, want 1 after the outage", n)
		}
		if n := f.count("login", true); n != 1 || len(rec.published()) != 1 {
			t.Errorf("%d logins, %d publishes: a short outage must not replace the token", n, len(rec.published()))
		}
	})
}

func TestLoopRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(10*time.Minute, time.Hour)
		f.limited, f.retryAfter = 1, 30*time.Second
		_, rec, stop := start(t, f)
		defer stop()
		begin := time.Now()
		time.Sleep(time.Minute)
		logins := f.callsBetween(begin, time.Now())
		if len(logins) != 2 || logins[1].at.Sub(logins[0].at) < 30*time.Second {
			t.Fatalf("login attempts %+v: want a 429 then a login >= 30s later", logins)
		}

		// The renewal is rate limited too.
		f.set(func(f *fakeVault) { f.limited = 1 })
		time.Sleep(10 * time.Minute)
		var renews []fakeCall
		for _, c := range f.callsBetween(begin, time.Now()) {
			if c.op == "renew" {
				renews = append(renews, c)
			}
		}
		if len(renews) < 2 || renews[0].err == nil || renews[1].at.Sub(renews[0].at) < 30*time.Second {
			t.Fatalf("renewals %+v: want a 429 then a renewal >= 30s later", renews)
		}
		if renews[1].err != nil || len(rec.published()) != 1 {
			t.Errorf("after the 429 the renewal failed or the token changed")
		}
	})
}

func TestLoopRenewalRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(time.Hour, 24*time.Hour)
		l, rec, stop := start(t, f)
		defer stop()
		time.Sleep(time.Minute)
		first, _ := l.Current()
		f.RevokeSelf(t.Context(), first.Token) // an operator revokes it

		time.Sleep(40 * time.Minute)
		var refused time.Time
		for _, c := range f.callsBetween(time.Time{}, time.Now()) {
			if c.op == "renew" && c.err != nil {
				refused = c.at
			}
		}
		pubs := rec.published()
		if refused.IsZero() || len(pubs) != 2 {
			t.Fatalf("refused at %v, %d publishes: want a refused renewal and a new token", refused, len(pubs))
		}
		if !pubs[1].at.Equal(refused) {
			t.Errorf("new token %v after the refusal, want at once", pubs[1].at.Sub(refused))
		}
		if cur, _ := l.Current(); cur.Token == first.Token {
			t.Errorf("the revoked token is still current")
		}
	})
}

func TestLoopLoginRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(time.Hour, 24*time.Hour)
		f.refuseLogin = true
		l, rec, stop := start(t, f)
		defer stop()
		time.Sleep(10 * time.Minute)
		calls := f.callsBetween(time.Time{}, time.Now())
		if len(calls) > 21 {
			t.Errorf("%d login attempts in 10 minutes, want <= 21", len(calls))
		}
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].at.Sub(calls[i-1].at); gap < LoginRefusedFloor {
				t.Errorf("refused logins %v apart, want >= %v", gap, LoginRefusedFloor)
			}
		}
		if _, ok := l.Current(); ok || len(rec.published()) != 0 {
			t.Errorf("a token appeared though every login was refused")
		}
		// The state says so: what the socket API, the metrics and exec read.
		st, _ := rec.state.Load()
		if st.Step != "retrying-login" || failure.Of(st.Err) != failure.Refused || st.Backoff < LoginRefusedFloor/2 ||
			st.LoginFailures["login_refused"] != uint64(len(calls)) || st.Next.Before(time.Now()) {
			t.Errorf("state after refused logins: %+v", st)
		}

		// The operator fixes the role: the next slow retry succeeds.
		f.set(func(f *fakeVault) { f.refuseLogin = false })
		time.Sleep(5 * time.Minute)
		if len(rec.published()) != 1 {
			t.Errorf("no token after the login was allowed again")
		}
		if st, _ := rec.state.Load(); st.Step != "renewing" || st.Err != nil || st.Backoff != 0 || st.Logins != 1 {
			t.Errorf("state after the login: %+v", st)
		}
	})
}

func TestLoopCancel(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, _, stop := start(t, newFakeVault(time.Hour, 24*time.Hour))
			time.Sleep(5 * time.Second)
			stop()
		})
	})
	t.Run("during a login", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFakeVault(time.Hour, 24*time.Hour)
			f.blockLogin = true
			_, _, stop := start(t, f)
			time.Sleep(5 * time.Second)
			stop()
		})
	})
}

func TestLoopNeedsParts(t *testing.T) {
	if err := (&Loop{}).Run(t.Context()); err == nil {
		t.Error("Run without an Authenticator and a TokenAPI returned nil")
	}
}

// A kept token that Vault vouches for is the lifecycle's first token: no
// login, renewed at once, then the normal life.
func TestLoopResumesAKeptToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(time.Hour, 24*time.Hour)
		kept, _ := f.Login(t.Context())
		time.Sleep(10 * time.Minute) // the agent was down
		l, rec, stop := start(t, f, func(l *Loop) {
			l.Resume = &Resume{Token: kept.Auth.ClientToken, Accessor: kept.Auth.Accessor, LoginPath: "auth/aws/login"}
		})
		defer stop()
		synctest.Wait()
		if f.count("login", true) != 1 || f.count("lookup", true) != 1 || f.count("renew", true) != 1 {
			t.Fatalf("calls %+v: want the kept token looked up and renewed, no second login", f.calls)
		}
		cur, ok := l.Current()
		if pubs := rec.published(); !ok || cur.Token != kept.Auth.ClientToken || len(pubs) != 1 || cur.LeaseDuration != time.Hour {
			t.Fatalf("current %v %+v, published %d; want the kept token, renewed to 1h, published once", ok, cur, len(pubs))
		}
		if st, _ := rec.state.Load(); st.Logins != 0 || st.Renewals != 1 {
			t.Errorf("state counts %d logins, %d renewals; want 0 and 1", st.Logins, st.Renewals)
		}
	})
}

// Any doubt about a kept token is a login: unknown to Vault, another
// accessor, another login path, too little left.
func TestLoopResumeDoubtLogsIn(t *testing.T) {
	for name, tc := range map[string]struct {
		edit  func(r *Resume)
		after time.Duration
	}{
		"revoked":          {func(r *Resume) { r.Token = "hvs.unknown" }, 0},
		"another accessor": {func(r *Resume) { r.Accessor = "acc-other" }, 0},
		"another mount":    {func(r *Resume) { r.LoginPath = "auth/aws2/login" }, 0},
		"within its grace": {func(*Resume) {}, 55 * time.Minute}, // 5 min left of 1h, grace 15 %
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeVault(time.Hour, 24*time.Hour)
				kept, _ := f.Login(t.Context())
				time.Sleep(tc.after)
				r := Resume{Token: kept.Auth.ClientToken, Accessor: kept.Auth.Accessor, LoginPath: "auth/aws/login"}
				tc.edit(&r)
				l, _, stop := start(t, f, func(l *Loop) { l.Resume = &r })
				defer stop()
				synctest.Wait()
				if cur, _ := l.Current(); f.count("login", true) != 2 || cur.Token == kept.Auth.ClientToken {
					t.Fatalf("calls %+v, current %s: want a new login", f.calls, cur.Accessor)
				}
			})
		})
	}
}

// RenewNow renews at once, between the policy's renewals; when Vault
// refuses the renewal, the loop logs in.
func TestLoopRenewNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeVault(time.Hour, 24*time.Hour)
		l, _, stop := start(t, f)
		defer stop()
		synctest.Wait()
		time.Sleep(time.Minute)
		l.RenewNow()
		synctest.Wait()
		l.RenewNow() // in the same second: the lease does not grow, and that is no max TTL
		synctest.Wait()
		if f.count("renew", true) != 2 || f.count("login", true) != 1 {
			t.Fatalf("calls %+v: want two renewals now, no login", f.calls)
		}
		first, _ := l.Current()
		f.RevokeSelf(t.Context(), first.Token)
		l.RenewNow()
		synctest.Wait()
		if cur, _ := l.Current(); f.count("login", true) != 2 || cur.Token == first.Token {
			t.Fatalf("calls %+v: want a refused renewal, then a login", f.calls)
		}
	})
}
