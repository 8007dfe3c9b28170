package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// fakeSystemd listens on a unixgram socket in a temporary directory and points NOTIFY_SOCKET at
// it, as systemd does for a Type=notify service.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

// recv returns the next datagram. The deadline only turns a missing datagram into a failure
// instead of a hang: the sender has written it before recv is called.
func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read datagram: %v", err)
	}
	return string(buf[:n])
}

func TestNotifierMessages(t *testing.T) {
	tests := []struct {
		name string
		send func(*Notifier)
		want string
	}{
		{"ready", func(n *Notifier) { n.Ready("state=ready accessor=abc ttl_left=1h0m0s") },
			"READY=1\nSTATUS=state=ready accessor=abc ttl_left=1h0m0s"},
		{"ready without status", func(n *Notifier) { n.Ready("") }, "READY=1"},
		{"status", func(n *Notifier) { n.Status("state=renewing") }, "STATUS=state=renewing"},
		{"status newline", func(n *Notifier) { n.Status("two\nlines") }, "STATUS=two lines"},
		{"stopping", func(n *Notifier) { n.Stopping() }, "STOPPING=1"},
		{"watchdog", func(n *Notifier) { n.Watchdog() }, "WATCHDOG=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := fakeSystemd(t)
			tt.send(NewNotifier(zaptest.NewLogger(t)))
			if got := recv(t, conn); got != tt.want {
				t.Errorf("datagram = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNotifierReloading(t *testing.T) {
	conn := fakeSystemd(t)
	n := NewNotifier(zaptest.NewLogger(t))

	before := monotonicUsec(t, daemon.SdNotifyMonotonicUsec())
	n.Reloading()
	got := recv(t, conn)
	after := monotonicUsec(t, daemon.SdNotifyMonotonicUsec())

	// One datagram, RELOADING=1 first: systemd ≥ 253 rejects a reload whose RELOADING=1
	// arrives without MONOTONIC_USEC in the same message.
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" {
		t.Fatalf("datagram = %q, want \"RELOADING=1\\nMONOTONIC_USEC=<µs>\"", got)
	}
	usec := monotonicUsec(t, lines[1])
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC = %d, want between %d and %d", usec, before, after)
	}
}

// monotonicUsec parses "MONOTONIC_USEC=<n>" with or without a trailing newline.
func monotonicUsec(t *testing.T, line string) int64 {
	t.Helper()
	v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "MONOTONIC_USEC=")
	if !ok {
		t.Fatalf("%q is not a MONOTONIC_USEC= line", line)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("MONOTONIC_USEC=%q is not a positive integer", v)
	}
	return n
}

func TestNotifierNoSocket(t *testing.T) {
	conn := fakeSystemd(t)
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	var nilNotifier *Notifier
	for _, n := range []*Notifier{NewNotifier(nil), {}, nilNotifier} {
		n.Ready("x")
		n.Status("x")
		n.Reloading()
		n.Stopping()
		n.Watchdog()
		if d := n.WatchdogInterval(); d != 0 {
			t.Errorf("WatchdogInterval() = %v without NOTIFY_SOCKET, want 0", d)
		}
	}

	// Had any of the calls above sent something, it would be queued ahead of this one.
	t.Setenv("NOTIFY_SOCKET", conn.LocalAddr().String())
	NewNotifier(nil).Status("marker")
	if got := recv(t, conn); got != "STATUS=marker" {
		t.Errorf("first datagram = %q, want only the marker: a notifier without NOTIFY_SOCKET sent something", got)
	}
}

func TestNotifierSendFailureIsDebugLogged(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens.sock"))
	core, logs := observer.New(zapcore.DebugLevel)

	NewNotifier(zap.New(core)).Ready("state=ready")

	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("got %d log entries, want 1: %v", len(entries), entries)
	}
	e := entries[0]
	if e.Level != zapcore.DebugLevel {
		t.Errorf("level = %v, want debug", e.Level)
	}
	if v := e.ContextMap()[fieldVar]; v != "READY=1" {
		t.Errorf("%s = %v, want READY=1", fieldVar, v)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name      string
		usec, pid string
		want      time.Duration
	}{
		{"this process", "30000000", pid, 30 * time.Second},
		{"no pid", "60000000", "", time.Minute},
		{"another process", "30000000", strconv.Itoa(os.Getpid() + 1), 0},
		{"not set", "", "", 0},
		{"not a number", "soon", pid, 0},
		{"zero", "0", pid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeSystemd(t)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			if got := NewNotifier(zaptest.NewLogger(t)).WatchdogInterval(); got != tt.want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tt.want)
			}
			// The library is told not to unset the variables.
			if got := os.Getenv("WATCHDOG_USEC"); got != tt.usec {
				t.Errorf("WATCHDOG_USEC = %q after the call, want it left as %q", got, tt.usec)
			}
		})
	}
}
