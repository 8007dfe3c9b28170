package token

import (
	"math"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestOfClampsTheLease(t *testing.T) {
	issued := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTTL := time.Duration(math.MaxInt64/int64(time.Second)) * time.Second
	tests := []struct {
		lease int
		want  time.Duration
	}{
		{3600, time.Hour},
		{0, 0},
		{-5, 0},
		{math.MaxInt64 / int(time.Second), maxTTL},
		{math.MaxInt64/int(time.Second) + 1, maxTTL}, // wrapped to a negative TTL before
		{math.MaxInt, maxTTL},
	}
	for _, tt := range tests {
		tok := Of(&api.Secret{Auth: &api.SecretAuth{ClientToken: "t", LeaseDuration: tt.lease}}, issued)
		if tok.LeaseDuration != tt.want || !tok.ExpiresAt.Equal(issued.Add(tt.want)) {
			t.Errorf("lease %d s: TTL %v, expires %v; want %v", tt.lease, tok.LeaseDuration, tok.ExpiresAt, tt.want)
		}
		if got := LeaseTTL(tt.lease); got != tt.want { // what the login log line and diagnose show
			t.Errorf("LeaseTTL(%d) = %v, want %v", tt.lease, got, tt.want)
		}
	}
}

func TestLatest(t *testing.T) {
	l := NewLatest()
	st, changed := l.Load()
	if st.Step != "starting" || st.Generation != 0 {
		t.Fatalf("new Latest: %+v", st)
	}
	now := time.Now()
	l.Update(func(s *State) { s.SetToken(Token{Token: "a", Accessor: "1"}, now) })
	select {
	case <-changed:
	default:
		t.Fatal("Update did not wake the reader")
	}
	l.Update(func(s *State) {
		s.SetToken(Token{Token: "a", Accessor: "1", LeaseDuration: time.Hour}, now.Add(time.Minute))
	})
	if st, _ := l.Load(); st.Generation != 1 || !st.Since.Equal(now) || st.Token.LeaseDuration != time.Hour {
		t.Fatalf("a renewal changed the generation or lost the lease: %+v", st)
	}
	l.Update(func(s *State) { s.SetToken(Token{Token: "b"}, now); s.CountLoginFailure("transient") })
	kept, _ := l.Load()
	l.Update(func(s *State) { s.CountLoginFailure("transient") })
	if st, _ := l.Load(); st.Generation != 2 || st.LoginFailures["transient"] != 2 || kept.LoginFailures["transient"] != 1 {
		t.Fatalf("state %+v, kept %+v: want generation 2, 2 failures now and 1 in the state kept before", st, kept)
	}
}
