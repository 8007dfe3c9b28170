package localapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClient(t *testing.T) {
	s, _ := newServer(t, Options{Version: "1.2.3"})
	serve(t, s)
	c := &Client{Socket: s.Path()}
	ctx := context.Background()

	_, err := c.Token(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable || ae.RetryAfter != time.Second {
		t.Fatalf("Token before a token: %v, want a 503 APIError with Retry-After 1s", err)
	}
	if _, err := c.Health(ctx); !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Health before a token: %v", err)
	}

	write(t, s, testToken)
	tok, err := c.Token(ctx)
	if err != nil || tok != testToken.Token {
		t.Fatalf("Token: %q, %v", tok, err)
	}
	ti, err := c.TokenInfo(ctx)
	if err != nil || ti.Token != testToken.Token || ti.Generation != 1 {
		t.Fatalf("TokenInfo: %+v, %v", ti, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Version != "1.2.3" || st.Accessor != "acc-1" || st.TokenState != "valid" {
		t.Fatalf("Status: %+v, %v", st, err)
	}
	h, err := c.Health(ctx)
	if err != nil || h.TokenState != "valid" {
		t.Fatalf("Health: %+v, %v", h, err)
	}
}

func TestClientUnreachable(t *testing.T) {
	c := &Client{Socket: filepath.Join(t.TempDir(), "none.sock")}
	_, err := c.Token(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "none.sock") {
		t.Fatalf("Token on a missing socket: %v, want an UnreachableError naming the socket", err)
	}
}

func TestClientIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	s, _ := newServer(t, Options{})
	serve(t, s)
	write(t, s, testToken)
	if tok, err := (&Client{Socket: s.Path()}).Token(context.Background()); err != nil || tok != testToken.Token {
		t.Fatalf("Token with HTTP_PROXY set: %q, %v", tok, err)
	}
}

func TestWaitHealthyLongPolls(t *testing.T) {
	s, _ := newServer(t, Options{})
	parked := make(chan struct{}, 1)
	s.onParked = func() { parked <- struct{}{} }
	serve(t, s)
	done := make(chan error, 1)
	go func() { done <- (&Client{Socket: s.Path()}).WaitHealthy(context.Background()) }()
	<-parked
	write(t, s, testToken)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitHealthy did not return after the first token")
	}
}

func TestWaitHealthyUntilTheAgentStarts(t *testing.T) {
	s, _ := newServer(t, Options{})
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { done <- (&Client{Socket: s.Path()}).WaitHealthy(ctx) }()
	write(t, s, testToken)
	serve(t, s) // the socket appears after the client started waiting
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWaitHealthyTimesOut(t *testing.T) {
	s, _ := newServer(t, Options{})
	serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := (&Client{Socket: s.Path()}).WaitHealthy(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("WaitHealthy without a token: %v, want a deadline error naming the 503", err)
	}
}

func TestWaitHealthyStopsOnForbidden(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.policy.Load().self = 12345 // so this test's uid is a stranger
	serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := (&Client{Socket: s.Path()}).WaitHealthy(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || ctx.Err() != nil {
		t.Fatalf("WaitHealthy when refused: %v, want a 403 at once", err)
	}
}

// BenchmarkToken measures GET /v1/token over the real unix socket with a
// kept-alive connection, and reports requests per second.
func BenchmarkToken(b *testing.B) {
	s := New(Options{Path: filepath.Join(socketDir(b), "agent.sock"), Mode: DefaultMode, GID: -1}, nil) // no log: measure the API, not the test's log
	serve(b, s)
	write(b, s, testToken)
	c := rawClient(s.Path())
	req, err := http.NewRequest(http.MethodGet, "http://localhost"+PathToken, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set(RequestHeader, "true")
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
