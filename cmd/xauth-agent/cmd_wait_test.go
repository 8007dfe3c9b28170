package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

func TestWaitCmdReturnsOnFirstToken(t *testing.T) {
	state := token.NewLatest()
	s := startAPI(t, nil, localapi.Options{State: state})
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- runStreams(context.Background(), []string{"wait", "--socket", s.Path(), "--timeout", "30s"}, streams{nil, &bytes.Buffer{}, &stderr})
	}()
	setToken(state, apiToken)
	select {
	case code := <-done:
		if code != failure.ExitOK {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return after the first token")
	}
}

func TestWaitCmdTimesOut(t *testing.T) {
	s := startAPI(t, nil, localapi.Options{})
	tests := []struct {
		name    string
		socket  string
		wantErr string
	}{
		{"no token", s.Path(), "503"},
		{"no agent", filepath.Join(t.TempDir(), "none.sock"), "cannot reach the agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runAPICmd(t, "wait", "", "--socket", tt.socket, "--timeout", "300ms")
			if code != failure.ExitUnreachable || !strings.Contains(errOut, "no valid token after 300ms") || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d naming the timeout and %q", code, errOut, failure.ExitUnreachable, tt.wantErr)
			}
		})
	}
}

func TestWaitCmdUsage(t *testing.T) {
	for _, args := range [][]string{{"--timeout", "-1s"}, {"--timeout", "soon"}, {"now"}} {
		if code, _, errOut := runAPICmd(t, "wait", "", args...); code != failure.ExitUsage {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
