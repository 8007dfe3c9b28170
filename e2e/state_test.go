package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

const (
	stateLoginPath = "/v1/auth/aws/login"
	stateRenewPath = "/v1/auth/token/renew-self"
)

// memDir is a fresh directory on tmpfs, /dev/shm, removed after the test:
// a runtime directory the daemon keeps its token record in.
func memDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "xauth-e2e-")
	if err != nil {
		t.Skipf("no /dev/shm to keep a token record in: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// hourRole creates an IAM role whose tokens live an hour: nothing renews
// or logs in by itself during a test.
func hourRole(t *testing.T, name string) {
	t.Helper()
	iamRole(t, st.Vault, name, "1h", "24h")
}

// A restarted daemon takes over the token it kept in its runtime
// directory: the same token in the sink, renewed, and no login. The record
// is a 0600 file on tmpfs holding the fingerprint; revoke_on_exit removes it.
func TestRestartWithoutLogin(t *testing.T) {
	hourRole(t, "state-restart")
	proxy, err := faultproxy.Start(st.VaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	dir := t.TempDir()
	file, stateDir, runtimeDir := filepath.Join(dir, "token"), filepath.Join(dir, "state"), memDir(t)
	args := []string{"--vault-addr", proxy.URL(), "--role", "state-restart", "--header-value", stack.HeaderValue,
		"--sink-file", file, "--state-dir", stateDir, "--runtime-dir", runtimeDir}
	record := filepath.Join(runtimeDir, "resume.json")

	d := startDaemon(t, "client1", nil, args...)
	waitFor(t, 20*time.Second, "the first token and its record", func() bool { return readToken(file) != "" && fileExists(record) })
	first := readToken(file)
	fi, err := os.Stat(record)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token record %v %v: want mode 0600", fi, err)
	}
	var rec struct{ Token, Accessor, Fingerprint string }
	if b, _ := os.ReadFile(record); json.Unmarshal(b, &rec) != nil || rec.Token != first || len(rec.Fingerprint) != 64 {
		t.Fatalf("token record does not hold the sink's token and a sha256 fingerprint")
	}
	if code, _ := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if !fileExists(record) {
		t.Fatal("SIGTERM removed the token record")
	}

	proxy.ResetCounts()
	d = startDaemon(t, "client1", nil, args...)
	waitFor(t, 20*time.Second, "the kept token renewed", func() bool { return proxy.RequestsByPath()[stateRenewPath] >= 1 })
	if got := proxy.RequestsByPath(); got[stateLoginPath] != 0 || readToken(file) != first {
		t.Fatalf("after a restart: %d logins, same token %v; want 0 logins and the same token", got[stateLoginPath], readToken(file) == first)
	}
	if ttl, err := tokenTTL(first); err != nil || ttl < 50*time.Minute {
		t.Fatalf("kept token: ttl %v, %v; want it valid and renewed", ttl, err)
	}
	if !strings.Contains(d.stderr.String(), "kept token taken over") {
		t.Error("the log does not say the kept token was taken over")
	}
	t.Logf("restart: 0 logins, %d renewal(s), same token", proxy.RequestsByPath()[stateRenewPath])
	if code, _ := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}

	// Another role is another fingerprint: a login.
	proxy.ResetCounts()
	shortRole(t, "state-other")
	other := append(append([]string(nil), args...), "--role", "state-other")
	d = startDaemon(t, "client1", nil, other...)
	waitFor(t, 20*time.Second, "a login for the other role", func() bool { return proxy.RequestsByPath()[stateLoginPath] >= 1 })
	waitFor(t, 20*time.Second, "the other role's token", func() bool { return readToken(file) != first })
	d.stop(t, syscall.SIGTERM)

	// revoke_on_exit removes the record (and revokes the token).
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte("lifecycle {\n  revoke_on_exit = true\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "client1", nil, append([]string{"--config", cfg}, args...)...)
	waitFor(t, 20*time.Second, "the token in the sink", func() bool { return strings.Contains(d.stderr.String(), "token in every sink") })
	if !fileExists(record) {
		t.Fatal("no token record")
	}
	d.stop(t, syscall.SIGTERM)
	if fileExists(record) {
		t.Error("revoke_on_exit left the token record")
	}
}

// A runtime directory on persistent disk keeps no token: one warning
// naming it, then the daemon works as before.
func TestNoTokenRecordOnDisk(t *testing.T) {
	dir := t.TempDir()
	file, runtimeDir := filepath.Join(dir, "token"), filepath.Join(dir, "run")
	d := startDaemon(t, "client1", nil, "--role", "vault-role", "--header-value", stack.HeaderValue,
		"--sink-file", file, "--runtime-dir", runtimeDir)
	waitFor(t, 20*time.Second, "the first token", func() bool { return readToken(file) != "" })
	if entries, _ := os.ReadDir(runtimeDir); len(entries) != 0 {
		t.Errorf("the runtime directory on disk holds %d files, want none", len(entries))
	}
	if log := d.stderr.String(); !strings.Contains(log, "no token record kept") || !strings.Contains(log, runtimeDir) {
		t.Error("no warning naming the runtime directory that is not tmpfs")
	}
	d.stop(t, syscall.SIGTERM)
}

// A second daemon on the same state directory exits 2 and names the pid
// of the first; --once takes no lock.
func TestStateDirLock(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	args := []string{"--role", "vault-role", "--header-value", stack.HeaderValue, "--state-dir", stateDir}
	d := startDaemon(t, "client1", nil, append(args, "--sink-file", filepath.Join(dir, "a"))...)
	waitFor(t, 20*time.Second, "the first daemon's token", func() bool { return readToken(filepath.Join(dir, "a")) != "" })

	r := runAgent(t, "client1", nil, append(args, "--sink-file", filepath.Join(dir, "b"))...)
	pid := strconv.Itoa(d.cmd.Process.Pid)
	if r.code != 2 || !strings.Contains(r.stderr, stateDir) || !strings.Contains(r.stderr, "pid "+pid) {
		t.Fatalf("second daemon: exit %d, stderr %q; want exit 2 naming %s and pid %s", r.code, r.stderr, stateDir, pid)
	}
	if once := runAgent(t, "client1", nil, append(args, "--once")...); once.code != 0 {
		t.Fatalf("--once beside the daemon: exit %d: %s", once.code, once.stderr)
	}
	d.stop(t, syscall.SIGTERM)
}

// SIGUSR1 renews the token now, once per signal, on the real Vault; when
// the token was revoked, the refused renewal brings a login.
func TestSIGUSR1RenewsNow(t *testing.T) {
	hourRole(t, "state-usr1")
	proxy, err := faultproxy.Start(st.VaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	file := filepath.Join(t.TempDir(), "token")
	d := startDaemon(t, "client1", nil, "--vault-addr", proxy.URL(), "--role", "state-usr1",
		"--header-value", stack.HeaderValue, "--sink-file", file)
	waitFor(t, 20*time.Second, "the first token", func() bool { return readToken(file) != "" })
	first := readToken(file)
	proxy.ResetCounts()
	for i := 1; i <= 2; i++ {
		_ = d.cmd.Process.Signal(syscall.SIGUSR1)
		waitFor(t, 10*time.Second, "a renewal", func() bool { return proxy.RequestsByPath()[stateRenewPath] >= int64(i) })
	}
	if got := proxy.RequestsByPath(); got[stateRenewPath] != 2 || got[stateLoginPath] != 0 || readToken(file) != first {
		t.Fatalf("two SIGUSR1: %d renewals, %d logins; want 2 renewals of the same token", got[stateRenewPath], got[stateLoginPath])
	}
	if !strings.Contains(d.stderr.String(), "SIGUSR1") {
		t.Error("SIGUSR1 is not logged")
	}

	if err := st.Vault.Auth().Token().RevokeOrphan(first); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, 20*time.Second, "a new token after the refused renewal", func() bool { return readToken(file) != first })
	if got := proxy.RequestsByPath(); got[stateLoginPath] != 1 {
		t.Errorf("%d logins after the refused renewal, want 1", got[stateLoginPath])
	}
	if _, err := tokenTTL(readToken(file)); err != nil {
		t.Fatalf("new token: %v", err)
	}
	d.stop(t, syscall.SIGTERM)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
