package token

import (
	"maps"
	"sync"
	"time"
)

// State is the token and the lifecycle that keeps it, at one moment: the
// one value the file sinks, the socket API, the metrics, sd_notify and exec
// read. A State is a value: readers may keep it, never change it.
type State struct {
	Token      Token     // the current token; zero before the first
	Generation uint64    // 1 with the first token, and one more with each new token string; renewals keep it
	Since      time.Time // when the current token string arrived

	Step string    // the lifecycle's state: "starting", "logging-in", "renewing", "retrying-login", "retrying-renew"
	Err  error     // the failure that Step retries; nil after a success
	Next time.Time // when the next login or renewal is due; zero when unknown

	Logins, Renewals uint64            // successes so far
	LoginFailures    map[string]uint64 // failed logins so far, by their kind's label; replaced, never changed
	Backoff          time.Duration     // the wait before retrying a failure; 0 when not retrying
}

// SetToken makes t the current token: a new token string starts a new
// generation, the same string (a renewal) updates what is known of it.
func (s *State) SetToken(t Token, now time.Time) {
	if s.Generation == 0 || t.Token != s.Token.Token {
		s.Generation++
		s.Since = now
	}
	s.Token = t
}

// CountLoginFailure counts a failed login under label.
func (s *State) CountLoginFailure(label string) {
	m := maps.Clone(s.LoginFailures)
	if m == nil {
		m = map[string]uint64{}
	}
	m[label]++
	s.LoginFailures = m
}

// Latest holds the latest State: the lifecycle writes it with Update, and
// any number of readers Load it and wait for the next change.
type Latest struct {
	mu      sync.Mutex
	st      State
	changed chan struct{}
}

// NewLatest returns a Latest in the step "starting", without a token.
func NewLatest() *Latest {
	return &Latest{st: State{Step: "starting"}, changed: make(chan struct{})}
}

// Load returns the current State, and a channel that is closed when it
// changes.
func (l *Latest) Load() (State, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st, l.changed
}

// Update changes the State with f and wakes every reader waiting for a
// change. f must not block.
func (l *Latest) Update(f func(*State)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.st)
	close(l.changed)
	l.changed = make(chan struct{})
}
