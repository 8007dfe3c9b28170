package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/localapi"
	"github.com/xauth-agent/xauth-agent/internal/sink"
)

var apiToken = sink.Token{
	Token:     "hvs.cmd-test-token",
	Accessor:  "acc-cmd",
	Policies:  []string{"default", "app"},
	Renewable: true,
	ExpiresAt: time.Now().Add(time.Hour),
}

// startAPI serves a local API on a socket in a temp dir until the test
// ends; with tok set, it holds that token.
func startAPI(t *testing.T, tok *sink.Token, o localapi.Options) *localapi.Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "xa") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o.Path, o.Mode, o.GID = filepath.Join(dir, "agent.sock"), localapi.DefaultMode, -1
	s, err := localapi.New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != nil {
		if err := s.Write(context.Background(), *tok); err != nil {
			t.Fatal(err)
		}
	}
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

type apiCmdFunc func(context.Context, []string, io.Reader, io.Writer, io.Writer) int

func runAPICmd(t *testing.T, f apiCmdFunc, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := f(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestTokenCmd(t *testing.T) {
	s := startAPI(t, &apiToken, localapi.Options{})
	for _, args := range [][]string{
		{"--socket", s.Path()},
		{"--socket", s.Path(), "get"},
		{"get", "--socket", s.Path()},
	} {
		code, out, errOut := runAPICmd(t, runTokenCmd, "", args...)
		if code != exitOK || out != apiToken.Token {
			t.Errorf("token %v: exit %d, stdout %q (want the token, no newline), stderr %q", args, code, out, errOut)
		}
	}

	t.Setenv(socketEnv, s.Path())
	if code, out, _ := runAPICmd(t, runTokenCmd, "", "get"); code != exitOK || out != apiToken.Token {
		t.Errorf("token get with $%s: exit %d, %q", socketEnv, code, out)
	}
}

func TestTokenCmdHelperVerbs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	for _, verb := range []string{"store", "erase"} {
		code, out, errOut := runAPICmd(t, runTokenCmd, "hvs.from-vault\n", "--socket", missing, verb)
		if code != exitOK || out != "" || errOut != "" {
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
		{"no agent", []string{"--socket", filepath.Join(t.TempDir(), "none.sock")}, exitUnreachable, "is the agent running"},
		{"no token yet", []string{"--socket", empty.Path()}, exitUnreachable, "no valid token yet"},
		{"unknown verb", []string{"--socket", empty.Path(), "list"}, exitUsage, `unknown operation "list"`},
		{"two verbs", []string{"get", "erase"}, exitUsage, `unexpected argument "erase"`},
		{"bad flag", []string{"--nope"}, exitUsage, "flag provided but not defined"},
		{"help", []string{"--help"}, exitOK, "token_helper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runAPICmd(t, runTokenCmd, "", tt.args...)
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}
