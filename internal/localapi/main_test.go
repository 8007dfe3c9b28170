package localapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// childEnv makes the test binary act as a tiny client (see childClient):
// the tests re-execute it as another uid to see how the server treats a
// caller that is not the agent's user.
const childEnv = "XAUTH_LOCALAPI_TEST_CHILD_SOCKET"

// childPollEnv makes the child long-poll instead (see childLongPoll).
const childPollEnv = "XAUTH_LOCALAPI_TEST_CHILD_POLL"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		if os.Getenv(childPollEnv) != "" {
			os.Exit(childLongPoll(path))
		}
		os.Exit(childClient(path))
	}
	code := m.Run()
	if childDir != "" {
		os.RemoveAll(childDir)
	}
	os.Exit(code)
}

// childClient asks for the token on path twice (the second time on a new
// connection) and prints the two status codes, or "unreachable: <errno>"
// when it cannot connect.
func childClient(path string) int {
	var codes []string
	for range 2 {
		c := &Client{Socket: path}
		resp, _, err := c.get(context.Background(), PathToken, 0, nil)
		if ue, ok := err.(*UnreachableError); ok {
			fmt.Printf("unreachable: %v\n", ue.Err)
			return 0
		}
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		codes = append(codes, strconv.Itoa(resp.StatusCode))
	}
	fmt.Println(strings.Join(codes, " "))
	return 0
}

// childLongPoll waits up to a minute for a token other than generation 1
// and prints the status code, or "error: ..." when the connection ends
// first.
func childLongPoll(path string) int {
	c := &Client{Socket: path}
	resp, _, err := c.get(context.Background(), PathToken, time.Minute, http.Header{"If-None-Match": {`"1"`}})
	if err != nil {
		fmt.Println("error:", err)
		return 0
	}
	fmt.Println(resp.StatusCode)
	return 0
}

var testToken = token.Token{
	Token:         "hvs.CAESIJ-secret-token",
	Accessor:      "acc-1",
	Policies:      []string{"default", "app"},
	LeaseDuration: time.Hour,
	Renewable:     true,
	ExpiresAt:     time.Now().Add(time.Hour),
}

// newServer makes a server on a socket in a fresh directory, without
// starting it. The directory is world-traversable so other uids can reach
// the socket when its mode lets them. A zero Mode is DefaultMode and a zero
// GID leaves the agent's group, as the configuration's defaults do.
func newServer(t testing.TB, o Options) (*Server, *observer.ObservedLogs) {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(socketDir(t), "agent.sock")
	}
	if o.Mode == 0 {
		o.Mode = DefaultMode
	}
	if o.GID == 0 {
		o.GID = -1
	}
	if o.Version == "" {
		o.Version = "test"
	}
	core, logs := observer.New(zapcore.DebugLevel)
	return New(o, zap.New(core).Named("sink.socket")), logs
}

// socketDir is a temp directory that uid 65534 can traverse. Socket paths
// must stay short (108 bytes), so it lives in /tmp directly.
func socketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serve runs s until the test ends and waits for Serve to return.
func serve(t testing.TB, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// rawClient is an HTTP client for the socket that sends exactly the
// headers a test gives.
func rawClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

type answer struct {
	code   int
	header http.Header
	body   string
}

// fetch sends a request over the socket. headers are pairs; the request
// header X-Xauth-Request is added unless noGuard.
func fetch(path, method, target string, noGuard bool, headers ...string) (answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+target, nil)
	if err != nil {
		return answer{}, err
	}
	if !noGuard {
		req.Header.Set(RequestHeader, "true")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := rawClient(path).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func do(t *testing.T, path, method, target string, noGuard bool, headers ...string) answer {
	t.Helper()
	a, err := fetch(path, method, target, noGuard, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return a
}

// poll is get for a goroutine other than the test's: an error becomes
// status 0 with the error as the body.
func poll(path, target string, headers ...string) answer {
	a, err := fetch(path, http.MethodGet, target, false, headers...)
	if err != nil {
		return answer{body: err.Error()}
	}
	return a
}

func get(t *testing.T, path, target string, headers ...string) answer {
	t.Helper()
	return do(t, path, http.MethodGet, target, false, headers...)
}

// write makes tok the token of s's state: a new token string is a new
// generation, the same one a renewal.
func write(t testing.TB, s *Server, tok token.Token) {
	t.Helper()
	s.state.Update(func(st *token.State) { st.SetToken(tok, time.Now()) })
}

// setState sets the lifecycle's step, last failure and next attempt.
func setState(s *Server, step string, err error, next time.Time) {
	s.state.Update(func(st *token.State) { st.Step, st.Err, st.Next = step, err, next })
}

// ttlNow is the TTL gauge's value now.
func ttlNow(s *Server) float64 {
	st, _ := s.state.Load()
	return ttlSeconds(st, time.Now())
}

// The lifecycle's events, as the renew loop records them in the state the
// metrics read.
func loginOK(m *Metrics) { m.state.Update(func(s *token.State) { s.Logins++ }) }
func loginFailed(m *Metrics, reason string) {
	m.state.Update(func(s *token.State) { s.CountLoginFailure(reason) })
}
func renewed(m *Metrics)                     { m.state.Update(func(s *token.State) { s.Renewals++ }) }
func setBackoff(m *Metrics, d time.Duration) { m.state.Update(func(s *token.State) { s.Backoff = d }) }
func tokenExpiry(m *Metrics, at time.Time) {
	m.state.Update(func(s *token.State) { s.SetToken(token.Token{Token: "hvs.metrics", ExpiresAt: at}, time.Now()) })
}

// childDir holds childBinary's copy; TestMain removes it.
var childDir string

// childBinary is a copy of the test binary that uid 65534 can execute
// (the go build directory is private to root).
var childBinary = sync.OnceValues(func() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "xauth-localapi-child")
	if err != nil {
		return "", err
	}
	childDir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer src.Close()
	path := filepath.Join(dir, "client")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	return path, dst.Close()
})

func containsAll(s string, parts ...string) string {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return p
		}
	}
	return ""
}
