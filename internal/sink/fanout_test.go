package sink

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// memSink records writes and fails while told to.
type memSink struct {
	name string
	mu   sync.Mutex
	fail bool
	got  []string
	at   []time.Time
}

func (m *memSink) Name() string { return m.name }
func (m *memSink) Check() error { return nil }
func (m *memSink) Write(_ context.Context, t token.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at = append(m.at, time.Now())
	if m.fail {
		return errors.New("disk full")
	}
	m.got = append(m.got, t.Token)
	return nil
}

func (m *memSink) setFail(v bool) { m.mu.Lock(); m.fail = v; m.mu.Unlock() }
func (m *memSink) tokens() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}
func (m *memSink) attempts() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.at) }

// publish makes tok the state's token.
func publish(state *token.Latest, tok token.Token) {
	state.Update(func(s *token.State) { s.SetToken(tok, time.Now()) })
}

// noJitter retries after 1s, 1.7s, 3.1s, ... (backoff.Backoff without jitter).
var noJitter = backoff.Backoff{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}

func TestFanoutFailingSinkDoesNotHoldOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		good, bad := &memSink{name: "good"}, &memSink{name: "bad", fail: true}
		var all []uint64
		state := token.NewLatest()
		f := NewFanout(nil, state, noJitter, func(gen uint64, _ token.Token) { all = append(all, gen) })
		f.Set(t.Context(), []Sink{good, bad})
		defer f.Close()

		publish(state, token.Token{Token: "t1"})
		synctest.Wait()
		if got := good.tokens(); len(got) != 1 || got[0] != "t1" {
			t.Fatalf("good sink got %v, want [t1] without waiting for the failing one", got)
		}
		if len(all) != 0 {
			t.Fatal("onAll called while a sink has not written")
		}
		time.Sleep(3*time.Second + time.Millisecond) // virtual: retries after 1s and 1.7s more
		synctest.Wait()
		if n := bad.attempts(); n != 3 {
			t.Fatalf("failing sink tried %d times in 3s, want 3 (backoff 1s, 1.7s)", n)
		}
		if st := f.Statuses(); st[1].LastError == "" || st[0].Generation != 1 {
			t.Fatalf("statuses = %+v", st)
		}
		bad.setFail(false)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if got := bad.tokens(); len(got) != 1 || got[0] != "t1" {
			t.Fatalf("recovered sink got %v", got)
		}
		if len(all) != 1 || all[0] != 1 {
			t.Fatalf("onAll calls = %v, want [1]", all)
		}
	})
}

func TestFanoutNewerTokenReplacesPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memSink{name: "s", fail: true}
		state := token.NewLatest()
		f := NewFanout(nil, state, backoff.Backoff{Min: time.Minute, Max: time.Minute}, nil)
		f.Set(t.Context(), []Sink{s})
		defer f.Close()
		publish(state, token.Token{Token: "t1"})
		synctest.Wait()
		s.setFail(false)
		publish(state, token.Token{Token: "t2"}) // wakes the sink before its retry
		synctest.Wait()
		if got := s.tokens(); len(got) != 1 || got[0] != "t2" {
			t.Fatalf("sink got %v, want only the newest token", got)
		}
	})
}

func TestFanoutSetGivesNewSinksTheCurrentToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := &memSink{name: "a"}, &memSink{name: "b"}
		var all []uint64
		state := token.NewLatest()
		f := NewFanout(nil, state, noJitter, func(gen uint64, _ token.Token) { all = append(all, gen) })
		f.Set(t.Context(), []Sink{a})
		publish(state, token.Token{Token: "t1"})
		synctest.Wait()
		f.Set(t.Context(), []Sink{b})
		synctest.Wait()
		f.Close()
		if got := b.tokens(); len(got) != 1 || got[0] != "t1" {
			t.Fatalf("new sink got %v, want the current token", got)
		}
		if len(all) != 2 {
			t.Fatalf("onAll calls = %v, want one per sink set", all)
		}
	})
}

// A renewal keeps the generation: no sink writes again. Without sinks,
// onAll still hears of each generation (the daemon's READY=1).
func TestFanoutFollowsGenerations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		state := token.NewLatest()
		s := &memSink{name: "s"}
		f := NewFanout(nil, state, noJitter, nil)
		f.Set(t.Context(), []Sink{s})
		publish(state, token.Token{Token: "t1"})
		synctest.Wait()
		publish(state, token.Token{Token: "t1", LeaseDuration: time.Hour})
		state.Update(func(s *token.State) { s.Step = "renewing" })
		synctest.Wait()
		f.Close()
		if n := s.attempts(); n != 1 {
			t.Fatalf("%d writes, want 1: renewals and steps are no new token", n)
		}

		var all []uint64
		none := NewFanout(nil, state, noJitter, func(gen uint64, _ token.Token) { all = append(all, gen) })
		none.Set(t.Context(), nil)
		synctest.Wait()
		publish(state, token.Token{Token: "t2"})
		synctest.Wait()
		none.Close()
		if len(all) != 2 || all[0] != 1 || all[1] != 2 {
			t.Fatalf("onAll calls = %v, want [1 2]", all)
		}
	})
}
