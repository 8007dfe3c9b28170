package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

var apiToken = token.Token{
	Token:     "hvs.cmd-test-token",
	Accessor:  "acc-cmd",
	Policies:  []string{"default", "app"},
	Renewable: true,
	ExpiresAt: time.Now().Add(time.Hour),
}

// startAPI serves a local API on a socket in a temp dir until the test
// ends; with tok set, it holds that token. o.State, when nil, is a new one.
func startAPI(t *testing.T, tok *token.Token, o localapi.Options) *localapi.Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "xa") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o.Path, o.Mode, o.GID = filepath.Join(dir, "agent.sock"), localapi.DefaultMode, -1
	if o.State == nil {
		o.State = token.NewLatest()
	}
	if tok != nil {
		setToken(o.State, *tok)
	}
	s := localapi.New(o, nil)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

// setToken makes tok the state's token, as the renew loop does.
func setToken(state *token.Latest, tok token.Token) {
	state.Update(func(s *token.State) { s.SetToken(tok, time.Now()) })
}

// runAPICmd runs the command name with stdin.
func runAPICmd(t *testing.T, name, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runStreams(context.Background(), append([]string{name}, args...), streams{strings.NewReader(stdin), &stdout, &stderr})
	return code, stdout.String(), stderr.String()
}

func TestTokenCmd(t *testing.T) {
	s := startAPI(t, &apiToken, localapi.Options{})
	for _, args := range [][]string{
		{"--socket", s.Path()},
		{"--socket", s.Path(), "get"},
		{"get", "--socket", s.Path()},
	} {
		code, out, errOut := runAPICmd(t, "token", "", args...)
		if code != failure.ExitOK || out != apiToken.Token {
			t.Errorf("token %v: exit %d, stdout %q (want the token, no newline), stderr %q", args, code, out, errOut)
		}
	}

	t.Setenv(socketEnv, s.Path())
	if code, out, _ := runAPICmd(t, "token", "", "get"); code != failure.ExitOK || out != apiToken.Token {
		t.Errorf("token get with $%s: exit %d, %q", socketEnv, code, out)
	}
}

func TestTokenCmdHelperVerbs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	for _, verb := range []string{"store", "erase"} {
		code, out, errOut := runAPICmd(t, "token", "hvs.from-vault\n", "--socket", missing, verb)
		if code != failure.ExitOK || out != "" || errOut != "" {
			t.Errorf("token %s: exit %d, stdout %q, stderr %q; want a silent 0", verb, code, out, errOut)
		}
	}
}

func TestTokenCmdFailures(t *testing.T) {
	empty := startAPI(t, nil, localapi.Options{})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no agent", []string{"--socket", filepath.Join(t.TempDir(), "none.sock")}, failure.ExitUnreachable, "is the agent running"},
		{"no token yet", []string{"--socket", empty.Path()}, failure.ExitUnreachable, "no valid token yet"},
		{"unknown verb", []string{"--socket", empty.Path(), "list"}, failure.ExitUsage, `unknown operation "list"`},
		{"two verbs", []string{"get", "erase"}, failure.ExitUsage, `unexpected argument "erase"`},
		{"bad flag", []string{"--nope"}, failure.ExitUsage, "flag provided but not defined"},
		{"help", []string{"--help"}, failure.ExitOK, "token_helper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runAPICmd(t, "token", "", tt.args...)
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}
