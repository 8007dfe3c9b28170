package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// newFile makes a file sink; a zero Mode is 0600 and a zero UID or GID
// leaves that id unchanged, as the configuration's defaults do.
func newFile(t *testing.T, o FileOptions) *File {
	t.Helper()
	return NewFile(withDefaults(o), zaptest.NewLogger(t).Named("sink.file"))
}

// withDefaults fills in what newFile takes as defaults.
func withDefaults(o FileOptions) FileOptions {
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	if o.UID == 0 {
		o.UID = -1
	}
	if o.GID == 0 {
		o.GID = -1
	}
	return o
}

func write(t *testing.T, f *File, tok token.Token) {
	t.Helper()
	if err := f.Write(context.Background(), tok); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stat(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// dirNames lists dir, so a test can see that nothing but what it expects is left.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func wantNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	if got := dirNames(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, want)
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

func TestNewFile(t *testing.T) {
	f := newFile(t, FileOptions{Path: "/run/xauth-agent/token"})
	if got, want := f.Name(), "file:/run/xauth-agent/token"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if f.opts.Perm != 0o600 || f.opts.UID != -1 || f.opts.GID != -1 || f.dir != "/run/xauth-agent" {
		t.Errorf("defaults: %+v dir %q; want 0600 -1 -1 /run/xauth-agent", f.opts, f.dir)
	}

	f = newFile(t, FileOptions{Path: "/x/token", UID: 1234, GID: 65534})
	if f.opts.UID != 1234 || f.opts.GID != 65534 {
		t.Errorf("1234:65534 gave %d:%d", f.opts.UID, f.opts.GID)
	}
}

func TestWriteFormats(t *testing.T) {
	for _, format := range []string{"", "token", "json", "env"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			f := newFile(t, FileOptions{Path: path, Format: format})
			write(t, f, sample)
			want, err := Encode(format, sample)
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != string(want) {
				t.Errorf("file holds %q, want %q", got, want)
			}
			wantNames(t, filepath.Dir(path), "token")
		})
	}
}

func TestWriteModeDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	write(t, newFile(t, FileOptions{Path: path}), sample)
	if got := stat(t, path).Mode & 0o7777; got != 0o600 {
		t.Errorf("mode %#o, want 0600", got)
	}
}

// Not parallel: the umask is process-wide.
func TestWriteModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "token")
	write(t, newFile(t, FileOptions{Path: path, Mode: 0o640}), sample)
	if got := stat(t, path).Mode & 0o7777; got != 0o640 {
		t.Errorf("mode %#o under umask 077, want 0640", got)
	}
}

// A write replaces an existing file's mode and owner with the configured ones.
func TestWriteOwnerGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another user needs root")
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, FileOptions{Path: path, UID: 65534, GID: 65534, Mode: 0o640})
	if err := f.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	write(t, f, sample)
	st := stat(t, path)
	if st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o7777 != 0o640 {
		t.Errorf("file is %d:%d mode %#o, want 65534:65534 mode 0640", st.Uid, st.Gid, st.Mode&0o7777)
	}

	// Group only: the owner stays the process's.
	path = filepath.Join(t.TempDir(), "token")
	write(t, newFile(t, FileOptions{Path: path, GID: 65534}), sample)
	if st := stat(t, path); st.Uid != 0 || st.Gid != 65534 {
		t.Errorf("group only: file is %d:%d, want 0:65534", st.Uid, st.Gid)
	}
}

func TestWriteRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	real := filepath.Join(dir, "real")
	if err := os.WriteFile(real, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, FileOptions{Path: path})

	wantErr(t, f.Check(), path, "refusing to write through symlink")
	wantErr(t, f.Write(context.Background(), sample), path, "refusing to write through symlink")
	if got := readFile(t, real); got != "original" {
		t.Errorf("symlink destination now holds %q", got)
	}
	if dest, err := os.Readlink(path); err != nil || dest != real {
		t.Errorf("symlink now %q, %v", dest, err)
	}
	wantNames(t, dir, "real", "token")

	// A dangling link: its destination must not be created.
	missing := filepath.Join(dir, "missing")
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(missing, dangling); err != nil {
		t.Fatal(err)
	}
	f = newFile(t, FileOptions{Path: dangling})
	wantErr(t, f.Write(context.Background(), sample), dangling, "refusing to write through symlink")
	if _, err := os.Lstat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling link's destination: %v, want it not to exist", err)
	}
}

func TestWriteRefusesNonFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, FileOptions{Path: path})
	wantErr(t, f.Check(), path, "is a directory")
	wantErr(t, f.Write(context.Background(), sample), path, "is a directory")
	wantErr(t, f.Remove(), path, "is a directory")
	wantNames(t, dir, "token")

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f = newFile(t, FileOptions{Path: fifo})
	wantErr(t, f.Write(context.Background(), sample), fifo, "not a regular file")
}

// Each failure leaves the old content in place and no temp file of ours
// behind, and the next write is not skipped as "unchanged".
func TestWriteFailureKeepsOldContent(t *testing.T) {
	newer := sample
	newer.Token = "hvs.newer"

	setup := func(t *testing.T, format string) (*File, string) {
		path := filepath.Join(t.TempDir(), "token")
		f := newFile(t, FileOptions{Path: path, Format: format})
		write(t, f, sample)
		return f, path
	}
	wantOld := func(t *testing.T, path, format string) {
		t.Helper()
		old, _ := Encode(format, sample)
		if got := readFile(t, path); got != string(old) {
			t.Errorf("target holds %q after a failed write, want the old %q", got, old)
		}
	}

	t.Run("encode", func(t *testing.T) {
		f, path := setup(t, "json")
		bad := newer
		bad.Token = "hvs.\xff"
		wantErr(t, f.Write(context.Background(), bad), path, "not valid UTF-8")
		wantOld(t, path, "json")
		wantNames(t, filepath.Dir(path), "token")
	})

	t.Run("temp name taken", func(t *testing.T) {
		// O_EXCL must refuse a file already at the temp name, and the
		// cleanup must not remove a file this write did not create.
		f, path := setup(t, "token")
		f.opts.Rand = bytes.NewReader(make([]byte, 8))
		squatter := filepath.Join(filepath.Dir(path), ".token.tmp-0000000000000000")
		if err := os.WriteFile(squatter, []byte("someone else's"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := f.Write(context.Background(), newer)
		wantErr(t, err, path)
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("error %v is not fs.ErrExist", err)
		}
		wantOld(t, path, "token")
		if got := readFile(t, squatter); got != "someone else's" {
			t.Errorf("file at the temp name now holds %q", got)
		}
		wantNames(t, filepath.Dir(path), ".token.tmp-0000000000000000", "token")
	})

	// Not parallel: RLIMIT_FSIZE is process-wide. The limit makes write(2)
	// fail with EFBIG part way through the temp file, a real write failure
	// even for root.
	t.Run("write fails", func(t *testing.T) {
		f, path := setup(t, "token")
		var old syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Skip(err)
		}
		const limit = 1 << 20
		lim := old
		lim.Cur = limit
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Skip(err)
		}
		big := newer
		big.Token = strings.Repeat("x", 2*limit)
		err := f.Write(context.Background(), big)
		if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
			t.Fatalf("restore RLIMIT_FSIZE: %v", rerr)
		}
		wantErr(t, err, path)
		if !errors.Is(err, syscall.EFBIG) {
			t.Errorf("error %v is not EFBIG", err)
		}
		wantOld(t, path, "token")
		wantNames(t, filepath.Dir(path), "token")

		write(t, f, big) // not skipped: the failed write was not recorded
		if got := readFile(t, path); got != big.Token {
			t.Errorf("retry wrote %d bytes, want %d", len(got), len(big.Token))
		}
	})
}

func TestWriteSkipsUnchangedToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	f := newFile(t, FileOptions{Path: path, Format: "json"})
	write(t, f, sample)
	first := stat(t, path)

	renewed := sample
	renewed.Accessor = "other" // only the token decides
	renewed.LeaseDuration *= 2
	write(t, f, renewed)
	second := stat(t, path)
	if second.Ino != first.Ino || second.Mtim != first.Mtim {
		t.Errorf("same token rewrote the file: inode %d -> %d, mtime %v -> %v", first.Ino, second.Ino, first.Mtim, second.Mtim)
	}
	if want, _ := Encode("json", sample); readFile(t, path) != string(want) {
		t.Errorf("same token changed the content")
	}

	newer := sample
	newer.Token = "hvs.newer"
	write(t, f, newer)
	if third := stat(t, path); third.Ino == first.Ino {
		t.Errorf("a new token did not replace the file (inode %d unchanged)", third.Ino)
	}
	if want, _ := Encode("json", newer); readFile(t, path) != string(want) {
		t.Errorf("file holds %q, want the new token", readFile(t, path))
	}
	wantNames(t, dir, "token")
}

func TestWriteRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	f := newFile(t, FileOptions{Path: path})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.Write(ctx, sample)
	wantErr(t, err, path)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}

	empty := sample
	empty.Token = ""
	wantErr(t, f.Write(context.Background(), empty), path, "refusing to write an empty token")
	wantNames(t, dir)
}

func TestCheck(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "absent")
		f := newFile(t, FileOptions{Path: filepath.Join(dir, "token")})
		wantErr(t, f.Check(), dir+" does not exist", "RuntimeDirectory=", "change the sink path")
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Check created the directory: %v", err)
		}
	})

	t.Run("parent is a file", func(t *testing.T) {
		parent := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(parent, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f := newFile(t, FileOptions{Path: filepath.Join(parent, "token")})
		wantErr(t, f.Check(), parent+" is not a directory")
	})

	t.Run("fine", func(t *testing.T) {
		dir := t.TempDir()
		f := newFile(t, FileOptions{Path: filepath.Join(dir, "token"), Mode: 0o640})
		if err := f.Check(); err != nil {
			t.Fatalf("Check: %v", err)
		}
		wantNames(t, dir) // the target is not created, the probe is gone
	})

	t.Run("existing target untouched", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "token")
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := stat(t, path)
		if err := newFile(t, FileOptions{Path: path}).Check(); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if after := stat(t, path); after.Ino != before.Ino || after.Mtim != before.Mtim || readFile(t, path) != "old" {
			t.Errorf("Check changed the target")
		}
	})

	t.Run("removes leftovers", func(t *testing.T) {
		dir := t.TempDir()
		for _, name := range []string{
			".token.tmp-0123456789abcdef", // ours: removed
			".token.tmp-0123456789abcdeg", // not hex
			".token.tmp-0123",             // wrong length
			".other.tmp-0123456789abcdef", // another sink's
		} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := newFile(t, FileOptions{Path: filepath.Join(dir, "token")}).Check(); err != nil {
			t.Fatalf("Check: %v", err)
		}
		wantNames(t, dir, ".other.tmp-0123456789abcdef", ".token.tmp-0123", ".token.tmp-0123456789abcdeg")
	})

	t.Run("not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		f := newFile(t, FileOptions{Path: filepath.Join(dir, "token")})
		wantErr(t, f.Check(), "cannot create a file in "+dir, "permission denied", "write access")
	})

	t.Run("cannot chown", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root may chown to anyone")
		}
		f := newFile(t, FileOptions{Path: filepath.Join(t.TempDir(), "token"), UID: 65534})
		wantErr(t, f.Check(), "set owner 65534, group unchanged", "CAP_CHOWN")
	})
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	f := newFile(t, FileOptions{Path: path})
	write(t, f, sample)
	if err := f.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantNames(t, dir)
	if err := f.Remove(); err != nil {
		t.Errorf("Remove of an absent file: %v", err)
	}
	write(t, f, sample) // the same token is written again after Remove
	if got := readFile(t, path); got != sample.Token {
		t.Errorf("file holds %q after Remove and Write", got)
	}

	real := filepath.Join(dir, "real")
	if err := os.WriteFile(real, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	wantErr(t, newFile(t, FileOptions{Path: link}).Remove(), link, "symlink")
	wantNames(t, dir, "link", "real", "token")
}

func TestNeverLogsToken(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".token.tmp-00000000000000ff"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFile(FileOptions{Path: filepath.Join(dir, "token"), Mode: 0o600, UID: -1, GID: -1, Format: "env"}, zap.New(core).Named("sink.file"))
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
	write(t, f, sample)
	write(t, f, sample)
	bad := sample
	bad.Token = "hvs.bad\x00"
	_ = f.Write(context.Background(), bad)
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}

	var written bool
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, "hvs.") {
			t.Errorf("log line holds the token: %s", line)
		}
		if e.LoggerName != "sink.file" || e.Message != strings.ToLower(e.Message) {
			t.Errorf("log line %q from logger %q: want lowercase from sink.file", e.Message, e.LoggerName)
		}
		if e.Message == "token written" {
			written = true
			m := e.ContextMap()
			if m[fieldAccessor] != sample.Accessor || m[fieldPath] != f.path || m[fieldBytes] != int64(len("VAULT_TOKEN=")+len(sample.Token)+1) {
				t.Errorf("token written fields = %v", m)
			}
		}
	}
	if !written {
		t.Errorf("no \"token written\" line in %d entries", logs.Len())
	}
	if logs.FilterMessage("token unchanged, write skipped").Len() != 1 {
		t.Errorf("want one skip line")
	}
	if logs.FilterMessage("removed leftover temp file").Len() != 1 {
		t.Errorf("want one leftover line")
	}
}

// Check and every write apply the rule: a sink under a refused link never
// writes there, and one under /var/run-like links works.
func TestFileSinkUnderSymlinkedParent(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "run")
	mkdirMode(t, real, 0o755)
	symlink(t, real, filepath.Join(base, "varrun"))
	f := newFile(t, FileOptions{Path: filepath.Join(base, "varrun", "token")})
	if err := f.Check(); err != nil {
		t.Fatalf("Check under a trusted symlink: %v", err)
	}
	write(t, f, sample)
	if got := readFile(t, filepath.Join(real, "token")); got != sample.Token {
		t.Fatalf("the token reached %q", got)
	}

	open := filepath.Join(base, "open")
	mkdirMode(t, open, 0o777)
	symlink(t, real, filepath.Join(open, "app"))
	f = newFile(t, FileOptions{Path: filepath.Join(open, "app", "other")})
	wantErr(t, f.Check(), "is a symlink in "+open)
	// A link swapped in after the check is caught by the write.
	g := newFile(t, FileOptions{Path: filepath.Join(open, "later", "token")})
	mkdirMode(t, filepath.Join(open, "later"), 0o755)
	if err := g.Check(); err != nil {
		t.Fatalf("Check of a real directory: %v", err)
	}
	if err := os.Remove(filepath.Join(open, "later")); err != nil {
		t.Fatal(err)
	}
	symlink(t, real, filepath.Join(open, "later"))
	wantErr(t, g.Write(t.Context(), sample), "is a symlink in "+open)
	if _, err := os.Stat(filepath.Join(real, "other")); err == nil {
		t.Error("a refused sink wrote through the link")
	}
	wantNames(t, real, "token")
}

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

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
