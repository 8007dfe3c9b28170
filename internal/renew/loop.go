package renew

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/sink"
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

// Publisher delivers every new token to the sinks. It should not block for
// long: sinks retry on their own.
type Publisher interface {
	Publish(t sink.Token)
}

// Observer receives optional notifications (sd_notify, status). Calls come
// from the loop's goroutine and should return quickly.
type Observer interface {
	TokenChanged(t sink.Token) // a new token was published
	Renewed(t sink.Token)      // the current token was renewed
	Waiting(d Decision, err error)
}

// Loop logs in, keeps the token renewed and logs in again, forever. Set
// the fields, then call Run once.
type Loop struct {
	Auth    Authenticator
	Tokens  TokenAPI
	Sinks   Publisher // may be nil
	Observe Observer  // may be nil
	Backoff Backoff
	Log     *zap.Logger    // nil: no logs
	Rand    func() float64 // nil: math/rand/v2

	mu      sync.Mutex
	current sink.Token
	have    bool
}

// Current returns the last good token, if any. During an outage that is
// still the last token published; a token whose renewal was refused stays
// current until a login replaces it. Safe for concurrent use.
func (l *Loop) Current() (sink.Token, bool) {
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
	var (
		st      State
		lastErr error
	)
	for {
		d := Next(st, time.Now())
		if !l.wait(ctx, d, lastErr) {
			return nil
		}
		switch d.Action {
		case ActLogin:
			st, lastErr = l.login(ctx, st)
		case ActRenew:
			st, lastErr = l.renew(ctx, st)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// wait logs the decision and sleeps until it is due; false when ctx ended.
func (l *Loop) wait(ctx context.Context, d Decision, err error) bool {
	dur := max(time.Until(d.At), 0)
	l.Log.Info("waiting", zap.String(fieldAction, d.Action.String()), zap.Duration(fieldWait, dur),
		zap.Time(fieldAt, d.At), zap.String(fieldReason, d.Reason))
	if l.Observe != nil {
		l.Observe.Waiting(d, err)
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
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
	tok := login.TokenOf(secret, start)
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
	l.update(tok)
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
	tok := login.TokenOf(secret, start)
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
	st.LastErr, st.LastAction, st.RetryAfter, st.Backoff = ErrNone, ActRenew, 0, 0
	// A successful answer's warnings are server text too; error answers
	// are redacted as they arrive (login.NewVaultClient).
	warnings := make([]string, len(secret.Warnings))
	for i, w := range secret.Warnings {
		warnings[i] = login.Redact(w, tok.Token)
	}
	l.Log.Info("token renewed", zap.String(fieldAccessor, tok.Accessor), zap.Duration(fieldTTL, tok.LeaseDuration),
		zap.Time(fieldExpires, tok.ExpiresAt), zap.Strings(fieldWarnings, warnings))
	l.update(tok)
	if l.Observe != nil {
		l.Observe.Renewed(tok)
	}
	return st, nil
}

// failed records a failed step in the state and draws the next backoff.
// The current token stays published.
func (l *Loop) failed(ctx context.Context, st State, a Action, err error) State {
	kind, retryAfter := Classify(err)
	st.LastErr, st.LastAction, st.RetryAfter = kind, a, retryAfter
	st.Backoff = l.Backoff.Next(l.rand())
	msg := "login failed"
	if a == ActRenew {
		msg = "renewal failed"
	}
	if ctx.Err() == nil {
		l.Log.Warn(msg, zap.String(fieldKind, kind.String()),
			zap.Duration(fieldRetryAfter, retryAfter), zap.Error(err))
	}
	return st
}

// update makes tok current and publishes it when its string is new.
func (l *Loop) update(tok sink.Token) {
	l.mu.Lock()
	changed := !l.have || l.current.Token != tok.Token
	l.current, l.have = tok, true
	l.mu.Unlock()
	if !changed {
		return
	}
	if l.Sinks != nil {
		l.Sinks.Publish(tok)
	}
	if l.Observe != nil {
		l.Observe.TokenChanged(tok)
	}
}

func (l *Loop) rand() float64 {
	if l.Rand != nil {
		return l.Rand()
	}
	return rand.Float64()
}
