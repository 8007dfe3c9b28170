package renew

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// Log field names.
const (
	fieldAccessor   = "accessor"
	fieldAction     = "action"
	fieldWait       = "wait"
	fieldAt         = "at"
	fieldReason     = "reason"
	fieldTTL        = "ttl"
	fieldRenewable  = "renewable"
	fieldExpires    = "expires"
	fieldGrace      = "grace"
	fieldKind       = "error_kind"
	fieldRetryAfter = "retry_after"
	fieldWarnings   = "warnings"
)

// Loop logs in, keeps the token renewed and logs in again, forever. Set
// the fields, then call Run once.
type Loop struct {
	Auth    Authenticator
	Tokens  TokenAPI
	State   *token.Latest // where the token and the lifecycle's step go; nil: a Latest of its own
	Backoff backoff.Backoff
	Log     *zap.Logger    // nil: no logs
	Rand    func() float64 // nil: math/rand/v2

	// Resume, when set, is a token to take over instead of logging in
	// (the daemon's token record, kept across a restart). Run looks it up
	// first: if Vault says it is valid, was issued by LoginPath and has
	// more than its grace left, it is the lifecycle's first token, renewed
	// at once; on any doubt Run logs in.
	Resume *Resume

	mu      sync.Mutex
	current token.Token
	have    bool
	kick    chan struct{} // RenewNow's requests; made by requests
}

// Resume is a token kept from an earlier run of the lifecycle.
type Resume struct {
	Token     string
	Accessor  string
	LoginPath string // the path that must have issued it: "auth/<mount>/login"
}

// RenewNow asks the running loop to renew its token now (log in if it has
// none, if it is not renewable, or if Vault refuses the renewal), whatever
// the policy had scheduled. Requests made while one is pending are one.
// Safe for concurrent use; the SIGUSR1 of the daemon.
func (l *Loop) RenewNow() {
	select {
	case l.requests() <- struct{}{}:
	default:
	}
}

func (l *Loop) requests() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kick == nil {
		l.kick = make(chan struct{}, 1)
	}
	return l.kick
}

// Current returns the last good token, if any. During an outage that is
// still the last token it logged in for; a token whose renewal was refused stays
// current until a login replaces it. Safe for concurrent use.
func (l *Loop) Current() (token.Token, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current, l.have
}

// Run drives the lifecycle until ctx is cancelled, then returns nil. Vault
// errors never end it: the policy (Next) decides when to retry. It returns
// an error only when the Loop is missing a part.
func (l *Loop) Run(ctx context.Context) error {
	if l.Auth == nil || l.Tokens == nil {
		return errors.New("renew: loop needs an Authenticator and a TokenAPI")
	}
	if l.Log == nil {
		l.Log = zap.NewNop()
	}
	if l.State == nil {
		l.State = token.NewLatest()
	}
	var (
		st      State
		lastErr error
	)
	if l.Resume != nil {
		st = l.resume(ctx, *l.Resume)
	}
	for {
		d := Next(st, time.Now())
		switch l.wait(ctx, d, lastErr) {
		case waitEnded:
			return nil
		case waitRequested:
			l.Log.Info("renewal requested")
			st.Requested = true
			continue
		}
		requested := st.Requested
		st.Requested = false
		switch d.Action {
		case ActLogin:
			st, lastErr = l.login(ctx, st)
		case ActRenew:
			st, lastErr = l.renew(ctx, st)
			if requested && lastErr == nil {
				// Asked for, perhaps within a second of the last renewal:
				// a lease that did not grow says nothing of the max TTL.
				st.PrevExpires = time.Time{}
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// waitResult is how a wait ended.
type waitResult int

const (
	waitDue       waitResult = iota // the decision is due
	waitEnded                       // ctx ended
	waitRequested                   // RenewNow
)

// wait logs the decision, makes it the state's step, and sleeps until it
// is due, ctx ends, or RenewNow asks for a renewal.
func (l *Loop) wait(ctx context.Context, d Decision, err error) waitResult {
	dur := max(time.Until(d.At), 0)
	l.Log.Info("waiting", zap.String(fieldAction, d.Action.String()), zap.Duration(fieldWait, dur),
		zap.Time(fieldAt, d.At), zap.String(fieldReason, d.Reason))
	step := "renewing"
	switch {
	case err != nil:
		step = "retrying-" + d.Action.String()
	case d.Action == ActLogin:
		step = "logging-in"
	}
	l.State.Update(func(s *token.State) {
		s.Step, s.Err, s.Next = step, err, d.At
		if err != nil {
			s.Backoff = dur
		}
	})
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return waitEnded
	case <-t.C:
		return waitDue
	case <-l.requests():
		return waitRequested
	}
}

// resume takes over r's token when Vault's lookup-self vouches for it, and
// returns the state whose next step renews it; the zero State (log in)
// when it does not, with the reason logged.
func (l *Loop) resume(ctx context.Context, r Resume) State {
	start := time.Now()
	secret, err := l.Tokens.LookupSelf(ctx, r.Token)
	if err != nil {
		l.Log.Info("kept token not taken over: logging in", zap.String(fieldAccessor, r.Accessor), zap.Error(err))
		return State{}
	}
	tok, loginLease, why := lookedUp(secret, r, start)
	grace := ChooseGrace(loginLease, l.rand())
	if why == "" && tok.LeaseDuration <= grace {
		why = "it expires within its grace"
	}
	if why != "" {
		l.Log.Info("kept token not taken over: logging in", zap.String(fieldAccessor, r.Accessor), zap.String(fieldReason, why))
		return State{}
	}
	l.Log.Info("kept token taken over", zap.String(fieldAccessor, tok.Accessor), zap.Duration(fieldTTL, tok.LeaseDuration),
		zap.Bool(fieldRenewable, tok.Renewable), zap.Time(fieldExpires, tok.ExpiresAt), zap.Duration(fieldGrace, grace))
	l.update(tok, func(*token.State) {})
	return State{
		HaveToken: true, Renewable: tok.Renewable, LeaseStart: start, Lease: tok.LeaseDuration,
		Expires: start.Add(tok.LeaseDuration), Grace: grace, LastAction: ActRenew, Requested: true,
	}
}

// lookedUp reads a lookup-self answer about r's token, received at
// start: the token with its remaining TTL, the lease it was issued with
// (creation_ttl, which the grace is drawn from), and why it must not be
// taken over ("" when it may).
func lookedUp(s *api.Secret, r Resume, start time.Time) (tok token.Token, loginLease time.Duration, why string) {
	ttl, err := s.TokenTTL()
	if err != nil || ttl <= 0 {
		return tok, 0, "vault reports no ttl left"
	}
	accessor, _ := s.TokenAccessor()
	if accessor != r.Accessor {
		return tok, 0, "vault reports another accessor"
	}
	if path, _ := s.Data["path"].(string); path != r.LoginPath {
		return tok, 0, "it was not issued by " + r.LoginPath
	}
	renewable, _ := s.TokenIsRenewable()
	policies, _ := s.TokenPolicies()
	loginLease = ttl
	if n, ok := s.Data["creation_ttl"].(json.Number); ok {
		if secs, err := n.Int64(); err == nil && secs > 0 {
			loginLease = time.Duration(secs) * time.Second
		}
	}
	tok = token.Token{Token: r.Token, Accessor: accessor, Policies: policies, LeaseDuration: ttl,
		Renewable: renewable, ExpiresAt: start.Add(ttl).UTC()}
	return tok, loginLease, ""
}

func (l *Loop) login(ctx context.Context, st State) (State, error) {
	start := time.Now()
	secret, err := l.Auth.Login(ctx)
	if err == nil && (secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "") {
		err = errors.New("vault answered the login without a token")
	}
	if err != nil {
		return l.failed(ctx, st, ActLogin, err), err
	}
	l.Backoff.Reset()
	tok := token.Of(secret, start)
	st = State{
		HaveToken:  true,
		Renewable:  tok.Renewable,
		LeaseStart: start,
		Lease:      tok.LeaseDuration,
		Expires:    start.Add(tok.LeaseDuration),
		Grace:      ChooseGrace(tok.LeaseDuration, l.rand()),
		LastAction: ActLogin,
	}
	l.Log.Info("new token", zap.String(fieldAccessor, tok.Accessor), zap.Duration(fieldTTL, tok.LeaseDuration),
		zap.Bool(fieldRenewable, tok.Renewable), zap.Time(fieldExpires, tok.ExpiresAt), zap.Duration(fieldGrace, st.Grace))
	l.update(tok, func(s *token.State) { s.Logins++ })
	return st, nil
}

func (l *Loop) renew(ctx context.Context, st State) (State, error) {
	cur, _ := l.Current()
	start := time.Now()
	secret, err := l.Tokens.RenewSelf(ctx, cur.Token)
	if err == nil && (secret == nil || secret.Auth == nil) {
		err = errors.New("vault answered the renewal without auth data")
	}
	if err != nil {
		return l.failed(ctx, st, ActRenew, err), err
	}
	l.Backoff.Reset()
	if secret.Auth.ClientToken == "" { // keep the token renewed; Vault echoes it
		secret.Auth.ClientToken = cur.Token
	}
	if secret.Auth.Accessor == "" {
		secret.Auth.Accessor = cur.Accessor
	}
	tok := token.Of(secret, start)
	st.Renewable = tok.Renewable
	st.PrevExpires = st.Expires
	st.LeaseStart = start
	capped := tok.LeaseDuration < st.Lease
	st.Lease = tok.LeaseDuration
	st.Expires = start.Add(tok.LeaseDuration)
	if capped {
		// Capped at the max TTL: Vault reports the remaining TTL in whole
		// seconds, rounded up, so the real end may be up to 1 s earlier.
		st.Expires = st.Expires.Add(-time.Second)
	}
	st.LastErr, st.LastAction, st.RetryAfter, st.Backoff = failure.None, ActRenew, 0, 0
	// A successful answer's warnings are server text too; error answers
	// are redacted as they arrive (vault.NewClient).
	warnings := make([]string, len(secret.Warnings))
	for i, w := range secret.Warnings {
		warnings[i] = vault.Redact(w, tok.Token)
	}
	l.Log.Info("token renewed", zap.String(fieldAccessor, tok.Accessor), zap.Duration(fieldTTL, tok.LeaseDuration),
		zap.Time(fieldExpires, tok.ExpiresAt), zap.Strings(fieldWarnings, warnings))
	l.update(tok, func(s *token.State) { s.Renewals++ })
	return st, nil
}

// failed records a failed step in the state and draws the next backoff.
// The current token stays in the State.
func (l *Loop) failed(ctx context.Context, st State, a Action, err error) State {
	kind, retryAfter := Classify(err)
	st.LastErr, st.LastAction, st.RetryAfter = kind, a, retryAfter
	st.Backoff = l.Backoff.Next(l.rand())
	msg := "login failed"
	if a == ActRenew {
		msg = "renewal failed"
	}
	if ctx.Err() == nil {
		l.Log.Warn(msg, zap.String(fieldKind, kind.Label()),
			zap.Duration(fieldRetryAfter, retryAfter), zap.Error(err))
		if a == ActLogin {
			l.State.Update(func(s *token.State) { s.CountLoginFailure(kind.Label()) })
		}
	}
	return st
}

// update makes tok current, in the loop and in its State (a new token
// string is a new generation there), with count (a login or a renewal
// more) and no backoff.
func (l *Loop) update(tok token.Token, count func(*token.State)) {
	l.mu.Lock()
	l.current, l.have = tok, true
	l.mu.Unlock()
	l.State.Update(func(s *token.State) {
		s.SetToken(tok, time.Now())
		count(s)
		s.Backoff = 0
	})
}

func (l *Loop) rand() float64 {
	if l.Rand != nil {
		return l.Rand()
	}
	return rand.Float64()
}
