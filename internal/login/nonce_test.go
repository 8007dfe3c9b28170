package login

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewNonce(t *testing.T) {
	a, err := newNonce()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newNonce()
	if a == b || len(a) != 64 || len(a) > maxNonceLen {
		t.Errorf("nonces %q and %q: want two different 64-character values", a, b)
	}
}

func TestEnsureNonceCreatesThenReuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "nonce") // the directory is made too
	n, created, err := ensureNonce(path)
	if err != nil || !created || n.value == "" {
		t.Fatalf("first ensureNonce = %+v, %v, %v", n, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("nonce file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("made directory mode %v, want 0700", di.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if string(raw) != n.value+"\n" {
		t.Errorf("file holds %q, want the nonce and a newline", raw)
	}
	again, created, err := ensureNonce(path)
	if err != nil || created || again.value != n.value {
		t.Fatalf("second ensureNonce = %+v, %v, %v; want the same nonce, not created", again, created, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the nonce file (no temp files left)", len(entries))
	}
}

func TestLoadNonce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, ok, err := loadNonce(filepath.Join(dir, "absent")); ok || err != nil {
		t.Errorf("absent file: ok=%v err=%v, want neither", ok, err)
	}
	if _, ok, err := loadNonce(write("blank", " \n", 0o600)); ok || err != nil {
		t.Errorf("blank file: ok=%v err=%v, want neither (made anew)", ok, err)
	}
	n, ok, err := loadNonce(write("echoed", "  old-nonce\n", 0o644))
	if !ok || err != nil || n.value != "old-nonce" || n.perm != 0o644 {
		t.Errorf("echoed file: %+v ok=%v err=%v", n, ok, err)
	}
	if _, _, err := loadNonce(write("long", strings.Repeat("a", 129), 0o600)); err == nil || !strings.Contains(err.Error(), "128") {
		t.Errorf("too long: err=%v, want one naming the limit", err)
	}
	if _, _, err := loadNonce(write("two", "a b", 0o600)); err == nil {
		t.Error("two words: no error")
	}
	if _, _, err := loadNonce(dir); err == nil {
		t.Error("a directory: no error")
	}
}

func TestStoreNonceReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nonce")
	if err := storeNonce(path, "one"); err != nil {
		t.Fatal(err)
	}
	if err := storeNonce(path, "two"); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := loadNonce(path); !ok || err != nil || n.value != "two" {
		t.Errorf("after two stores: %+v %v %v", n, ok, err)
	}
}

func TestStoreNonceUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if _, _, err := ensureNonce(filepath.Join(dir, "nonce")); err == nil {
		t.Fatal("ensureNonce in a read-only directory: no error")
	}
}
