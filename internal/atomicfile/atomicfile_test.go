package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two"} {
		if err := Write(path, []byte(content), Options{Perm: 0o640, UID: -1, GID: -1}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("holds %q (%v), want %q", b, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v (%v), want 0640", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries left, want the file alone", len(entries))
	}
}

func TestWriteIntoMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "f")
	if err := Write(path, []byte("x"), Options{Perm: 0o600, UID: -1, GID: -1}); err == nil {
		t.Fatal("no error")
	}
}

func TestIsTemp(t *testing.T) {
	path := "/run/x/token"
	for name, want := range map[string]bool{
		".token.tmp-0123456789abcdef": true,
		".token.tmp-0123456789abcdeg": false,
		".token.tmp-0123":             false,
		".other.tmp-0123456789abcdef": false,
		"token":                       false,
	} {
		if got := IsTemp(path, name); got != want {
			t.Errorf("IsTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(dir); err != nil {
		t.Errorf("CheckDir(%s) = %v", dir, err)
	}
	wantErr(t, CheckDir(filepath.Join(dir, "absent")), "does not exist", "RuntimeDirectory=")
	wantErr(t, CheckDir(file), file+" is not a directory")
}
