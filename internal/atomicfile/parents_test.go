package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mkdirMode makes dir with exactly mode (the umask would narrow it).
func mkdirMode(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// The rule for symlinks above a sink: followed when root or the agent's
// user made them and nobody else may replace them, refused otherwise.
func TestCheckParents(t *testing.T) {
	self := uint32(os.Geteuid())
	base := t.TempDir() // 0700, owned by this test's uid
	real := filepath.Join(base, "run", "app")
	mkdirMode(t, real, 0o755)

	// The /var/run -> /run layout, absolute and relative.
	mkdirMode(t, filepath.Join(base, "var"), 0o755)
	symlink(t, filepath.Join(base, "run"), filepath.Join(base, "var", "run"))
	symlink(t, "../run/app", filepath.Join(base, "var", "app"))
	// A link in a directory anyone may write (no sticky bit).
	open := filepath.Join(base, "open")
	mkdirMode(t, open, 0o777)
	symlink(t, real, filepath.Join(open, "app"))
	// A link in a sticky directory like /tmp: its owner alone may replace it.
	sticky := filepath.Join(base, "sticky")
	mkdirMode(t, sticky, os.ModeSticky|0o777)
	symlink(t, real, filepath.Join(sticky, "app"))
	// Links that point at each other.
	symlink(t, filepath.Join(base, "loop2"), filepath.Join(base, "loop1"))
	symlink(t, filepath.Join(base, "loop1"), filepath.Join(base, "loop2"))

	tests := []struct {
		name, dir string
		self      uint32
		want      string // "" for no error
	}{
		{"no symlink", real, self, ""},
		{"symlinked parent like /var/run", filepath.Join(base, "var", "run", "app"), self, ""},
		{"relative link with ..", filepath.Join(base, "var", "app"), self, ""},
		{"links another user owns", filepath.Join(base, "var", "run", "app"), self + 1, "is a symlink owned by uid"},
		{"link in a directory others may write", filepath.Join(open, "app"), self, "where users other than root and the agent's user"},
		{"link in a sticky directory, own link", filepath.Join(sticky, "app"), self, ""},
		{"missing directory is for the sink's own check", filepath.Join(base, "var", "run", "nope", "deeper"), self, ""},
		{"symlink loop", filepath.Join(base, "loop1", "x"), self, "more than 40 symlinks"},
	}
	if self == 0 {
		// Root owns every link here; root is trusted whatever uid the agent runs as.
		tests[3].want = ""
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkParents(tt.dir, tt.self)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("checkParents(%s) = %v, want nil", tt.dir, err)
			case tt.want != "":
				wantErr(t, err, tt.want)
			}
		})
	}
}

// A link someone else owns is refused, even in a directory only root may
// write: root chowned it to them, or they made it before the directory
// was locked.
func TestCheckParentsLinkOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a symlink to another user")
	}
	base := t.TempDir()
	real := filepath.Join(base, "real")
	mkdirMode(t, real, 0o755)
	link := filepath.Join(base, "link")
	symlink(t, real, link)
	if err := os.Lchown(link, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	wantErr(t, CheckParents(link), link+" is a symlink owned by uid 65534", "give the directory it points to ("+real+")")

	// The same link in a sticky directory: still not root's or the agent's.
	sticky := filepath.Join(base, "sticky")
	mkdirMode(t, sticky, os.ModeSticky|0o777)
	if err := os.Rename(link, filepath.Join(sticky, "link")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, CheckParents(filepath.Join(sticky, "link")), "owned by uid 65534")
}

// The host's own /var/run, a symlink to /run on most distributions, passes.
func TestCheckParentsVarRun(t *testing.T) {
	if fi, err := os.Lstat("/var/run"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Skip("/var/run is not a symlink here")
	}
	if err := CheckParents("/var/run"); err != nil {
		t.Fatalf("CheckParents(/var/run) = %v", err)
	}
}
