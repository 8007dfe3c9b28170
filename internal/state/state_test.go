package state

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

func TestLockIsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created by TakeLock
	first, err := TakeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, LockFile)); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("lock file holds %q, want the pid", b)
	}
	_, err = TakeLock(dir)
	var held *LockedError
	if !errors.As(err, &held) || held.PID != os.Getpid() || failure.Of(err).ExitCode() != failure.ExitUsage {
		t.Fatalf("second lock: %v; want a LockedError naming pid %d, exit 2", err, os.Getpid())
	}
	if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, "--state-dir") {
		t.Errorf("message %q: want the directory, the pid and the fix", msg)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := TakeLock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}

func TestLockNeedsItsParent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "state")
	_, err := TakeLock(dir)
	if failure.Of(err) != failure.Config || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v; want a config error naming %s", err, dir)
	}
}

// memDir is a directory on tmpfs (/dev/shm), or the test is skipped.
func memDir(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || int64(st.Type) != tmpfsMagic {
		t.Skip("no tmpfs at /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "xauth-state-test-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestStoreRefusesPersistentDisk(t *testing.T) {
	var st unix.Statfs_t
	dir := t.TempDir()
	if err := unix.Statfs(dir, &st); err != nil || int64(st.Type) == tmpfsMagic || int64(st.Type) == ramfsMagic {
		t.Skip("the test's temp dir is on a memory filesystem")
	}
	_, err := OpenStore(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "tmpfs") {
		t.Fatalf("OpenStore on disk: %v; want a refusal naming the directory", err)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	s, err := OpenStore(memDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(); ok || err != nil {
		t.Fatalf("empty store: ok %v err %v", ok, err)
	}
	want := Record{Token: "hvs.kept", Accessor: "acc", Fingerprint: "fp"}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record file: %v %v; want mode 0600", fi, err)
	}
	got, ok, err := s.Load()
	if !ok || err != nil || got != want {
		t.Fatalf("Load = %+v %v %v, want %+v", got, ok, err, want)
	}
	if err := os.WriteFile(s.Path(), []byte(`{"token":"hvs.secret-in-garbage"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Load(); ok || err == nil || strings.Contains(err.Error(), "hvs.") {
		t.Fatalf("bad record: ok %v, err %v; want an error without its content", ok, err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestFingerprintNamesTheLogin(t *testing.T) {
	v := config.Vault{Addresses: []string{"https://vault:8200"}}
	a := config.Auth{Method: "aws", Type: "iam", Mount: "aws", Role: "web", HeaderValue: "h"}
	base := Fingerprint(v, a)
	if base != Fingerprint(v, a) || len(base) != 64 {
		t.Fatalf("fingerprint %q: want 64 hex digits, the same each time", base)
	}
	changes := map[string]func(v *config.Vault, a *config.Auth){
		"address":   func(v *config.Vault, a *config.Auth) { v.Addresses = []string{"https://other:8200"} },
		"namespace": func(v *config.Vault, a *config.Auth) { v.Namespace = "team" },
		"type":      func(v *config.Vault, a *config.Auth) { a.Type = "ec2" },
		"mount":     func(v *config.Vault, a *config.Auth) { a.Mount = "aws2" },
		"role":      func(v *config.Vault, a *config.Auth) { a.Role = "db" },
		"header":    func(v *config.Vault, a *config.Auth) { a.HeaderValue = "h2" },
		"assume":    func(v *config.Vault, a *config.Auth) { a.AssumeRole.ARN = "arn:aws:iam::1:role/x" },
		"external":  func(v *config.Vault, a *config.Auth) { a.AssumeRole.ExternalID = "e" },
		"session":   func(v *config.Vault, a *config.Auth) { a.AssumeRole.SessionName = "s" },
		"duration":  func(v *config.Vault, a *config.Auth) { a.AssumeRole.Duration = time.Hour },
	}
	for name, change := range changes {
		v2, a2 := v, a
		change(&v2, &a2)
		if Fingerprint(v2, a2) == base {
			t.Errorf("changing the %s keeps the fingerprint", name)
		}
	}
}
