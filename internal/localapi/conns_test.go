package localapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// startLongPoll runs the test binary as uid:gid (with groups), long-polling
// the token on sock, and returns once the poll is parked; the channel gets
// what the child printed when it ends.
func startLongPoll(t *testing.T, s *Server, parked <-chan struct{}, uid, gid uint32, groups ...uint32) <-chan string {
	t.Helper()
	bin, err := childBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{childEnv + "=" + s.Path(), childPollEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out := make(chan string, 1)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b, _ := io.ReadAll(pipe)
		_ = cmd.Wait()
		out <- strings.TrimSpace(string(b))
	}()
	select {
	case <-parked:
	case <-time.After(30 * time.Second):
		t.Fatal("the child's long-poll did not park")
	}
	return out
}

// within waits for the child's result for at most d.
func within(t *testing.T, out <-chan string, d time.Duration, what string) string {
	t.Helper()
	select {
	case got := <-out:
		return got
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %v", what, d)
		return ""
	}
}

// A reload that narrows the socket's settings takes effect at once: the
// file's mode and group change, new requests are judged by the new lists,
// and a long-poll held by a caller no longer allowed ends; callers still
// allowed keep theirs.
func TestReconfigureRevokesAtOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run callers as other uids")
	}
	const nobody = 65534
	tests := []struct {
		name       string
		start      Options
		groups     []uint32
		next       Options
		wantAfter  string // what a new caller of the same uid gets afterwards
		wantMode   os.FileMode
		wantGID    uint32
		stillAllow bool // the caller keeps access: its long-poll goes on
	}{
		{"uid removed from allow_uids", Options{Mode: 0o666, AllowUIDs: []int{nobody}}, nil,
			Options{Mode: 0o666}, "403 403", 0o666, 0, false},
		{"gid removed from allow_gids", Options{Mode: 0o666, AllowGIDs: []int{4242}}, []uint32{4242},
			Options{Mode: 0o666, AllowGIDs: []int{4243}}, "403 403", 0o666, 0, false},
		{"mode narrowed", Options{Mode: 0o666, AllowUIDs: []int{nobody}}, nil,
			Options{Mode: 0o660, AllowUIDs: []int{nobody}}, "unreachable: connect: permission denied", 0o660, 0, false},
		{"group changed", Options{Mode: 0o660, GID: 4242, AllowUIDs: []int{nobody}}, []uint32{4242},
			Options{Mode: 0o660, GID: 4243, AllowUIDs: []int{nobody}}, "unreachable: connect: permission denied", 0o660, 4243, false},
		{"unrelated change keeps the caller", Options{Mode: 0o666, AllowUIDs: []int{nobody}}, nil,
			Options{Mode: 0o666, AllowUIDs: []int{nobody, 1000}}, "200 200", 0o666, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, logs := newServer(t, tt.start)
			parked := make(chan struct{}, 1)
			s.onParked = func() { parked <- struct{}{} }
			serve(t, s)
			write(t, s, testToken)
			out := startLongPoll(t, s, parked, nobody, nobody, tt.groups...)

			next := tt.next
			next.Path = s.Path()
			if next.GID == 0 {
				next.GID = -1
			}
			if err := s.Reconfigure(next); err != nil {
				t.Fatalf("Reconfigure: %v", err)
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(s.Path(), &st); err != nil {
				t.Fatal(err)
			}
			if os.FileMode(st.Mode).Perm() != tt.wantMode || tt.wantGID != 0 && st.Gid != tt.wantGID {
				t.Errorf("socket file mode %04o gid %d, want %04o gid %d", st.Mode&0o777, st.Gid, tt.wantMode, tt.wantGID)
			}
			if tt.stillAllow {
				select {
				case got := <-out:
					t.Fatalf("the long-poll of a caller still allowed ended: %q", got)
				default:
				}
				write(t, s, token.Token{Token: "hvs.next", Accessor: "acc-2", ExpiresAt: time.Now().Add(time.Hour)})
				if got := within(t, out, 10*time.Second, "the kept long-poll"); got != "200" {
					t.Fatalf("kept long-poll got %q, want 200", got)
				}
			} else {
				got := within(t, out, 5*time.Second, "the revoked caller's long-poll")
				if !strings.HasPrefix(got, "error:") {
					t.Fatalf("revoked long-poll got %q, want its connection closed", got)
				}
				if logs.FilterMessage("closed the connections of callers no longer allowed").Len() != 1 {
					t.Error("no log line about the closed connections")
				}
			}
			if got := runChild(t, s.Path(), nobody, nobody, tt.groups...); got != tt.wantAfter {
				t.Errorf("a new request afterwards got %q, want %q", got, tt.wantAfter)
			}
		})
	}
}

func TestReconfigureRejects(t *testing.T) {
	s, _ := newServer(t, Options{})
	serve(t, s)
	for _, o := range []Options{
		{Path: s.Path() + "x", Mode: 0o660, GID: -1},
	} {
		if err := s.Reconfigure(o); err == nil {
			t.Errorf("Reconfigure(%+v) accepted", o)
		}
	}
	if fi, err := os.Lstat(s.Path()); err != nil || fi.Mode().Perm() != DefaultMode {
		t.Errorf("a refused Reconfigure changed the socket: %v %v", fi.Mode(), err)
	}
}

// pipeline opens a connection and writes n requests for /metrics (a few
// KiB each) at once, and never reads.
func pipeline(t *testing.T, path string, n int) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET " + PathMetrics + " HTTP/1.1\r\nHost: localhost\r\n" + RequestHeader + ": true\r\n\r\n"
	w := bufio.NewWriter(c)
	for range n {
		w.WriteString(req)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// open is how many connections the server tracks.
func (s *Server) open() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return len(s.conns)
}

// waitOpen waits until the server holds at most n connections.
func waitOpen(t *testing.T, s *Server, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.open() > n {
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %d connections after %v, want at most %d", s.open(), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A caller that pipelines requests and never reads the answers loses its
// connections once a response cannot be written within the write timeout,
// long before the idle timeout or the long-poll cap (the answers fill the
// socket buffers, the next write blocks, the deadline ends it).
func TestPipeliningCallerThatNeverReads(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.writeTimeout = 200 * time.Millisecond
	serve(t, s)
	write(t, s, testToken)
	const conns = 20
	for range conns {
		pipeline(t, s.Path(), 1000) // ~1000 answers of some KiB: more than the socket buffers hold
	}
	start := time.Now()
	waitOpen(t, s, 0, 10*time.Second)
	t.Logf("%d pipelining connections closed %v after they were opened", conns, time.Since(start).Round(10*time.Millisecond))

	// A caller that reads gets its answers as before.
	if a := get(t, s.Path(), PathToken); a.code != http.StatusOK {
		t.Fatalf("a reading caller got %d", a.code)
	}
}

// The write deadline starts when the response does, and the read deadline
// covers reading the request only: a long-poll waits longer than both and
// still gets its answer.
func TestLongPollOutlivesTheTimeouts(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.writeTimeout, s.readTimeout = 100*time.Millisecond, 100*time.Millisecond
	parked := make(chan struct{}, 1)
	s.onParked = func() { parked <- struct{}{} }
	serve(t, s)
	write(t, s, testToken)
	got := make(chan answer, 1)
	go func() { got <- poll(s.Path(), PathToken+"?wait=60s", "If-None-Match", `"1"`) }()
	<-parked
	// Park for several write timeouts (real time: the deadline is the
	// kernel's), then rotate the token.
	time.Sleep(5 * s.writeTimeout)
	write(t, s, token.Token{Token: "hvs.second", Accessor: "acc-2", ExpiresAt: time.Now().Add(time.Hour)})
	if a := <-got; a.code != http.StatusOK || a.body != "hvs.second" {
		t.Fatalf("long-poll after %v got %d %q", 5*s.writeTimeout, a.code, a.body)
	}
}

// One uid holds at most maxConns connections; more are closed at accept,
// logged once.
func TestConnectionsPerUIDCap(t *testing.T) {
	s, logs := newServer(t, Options{})
	s.maxConns = 3
	serve(t, s)
	write(t, s, testToken)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	waitAccepted := time.Now().Add(5 * time.Second)
	for s.open() < 3 && time.Now().Before(waitAccepted) {
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 2 {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("connection %d over the cap: read %v, want it closed", i+4, err)
		}
		c.Close()
	}
	if n := logs.FilterMessage("closed a connection: the caller's uid already holds the most connections allowed").Len(); n != 1 {
		t.Errorf("%d log lines about the cap, want 1 (rate-limited)", n)
	}
	// The held connections still work, and a slot freed is usable again.
	held[0].Close()
	waitOpen(t, s, 2, 5*time.Second)
	if a := get(t, s.Path(), PathToken); a.code != http.StatusOK {
		t.Fatalf("after a slot was freed: %d", a.code)
	}
}

// A caller that announces a body and never sends it does not keep the
// connection past the read timeout.
func TestUnsentBodyEndsWithTheReadTimeout(t *testing.T) {
	s, _ := newServer(t, Options{})
	s.readTimeout = 100 * time.Millisecond
	serve(t, s)
	write(t, s, testToken)
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET "+PathToken+" HTTP/1.1\r\nHost: localhost\r\n"+RequestHeader+": true\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c) // the answer, then EOF when the server gives up on the body
	if err != nil {
		t.Fatalf("read: %v (the connection is still open after %v)", err, 10*time.Second)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") {
		t.Errorf("got %q", b)
	}
	waitOpen(t, s, 0, 5*time.Second)
}
