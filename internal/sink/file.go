package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// FileOptions configures a file sink.
type FileOptions struct {
	Path string
	Mode os.FileMode // permission bits, 0001-0777; 0 is refused, not taken for a default
	// UID and GID are the file's owner and group; -1 leaves one as the agent's. The config
	// resolves names (config.FileSink's UID and GID), so that validate and startup refuse the
	// same settings. The zero value is root's id.
	UID, GID int
	Format   string // "token" | "json" | "env"; "" means token
}

// File is a sink that keeps the token in one file, replaced atomically.
type File struct {
	path     string
	dir      string
	perm     os.FileMode
	uid, gid int // -1 leaves the id unchanged
	format   string
	log      *zap.Logger
	rand     io.Reader // randomness for temp file names; tests replace it

	mu   sync.Mutex
	last string // the token last written successfully; "" before the first
}

var _ Sink = (*File)(nil)

// NewFile validates o and resolves its owner and group. log should be named
// by the caller (log.Named("sink.file")); nil discards.
func NewFile(o FileOptions, log *zap.Logger) (*File, error) {
	if o.Path == "" {
		return nil, errors.New("sink: file path is empty")
	}
	if !filepath.IsAbs(o.Path) {
		return nil, fmt.Errorf("sink %q: path must be absolute", o.Path)
	}
	path := filepath.Clean(o.Path)
	if strings.HasSuffix(o.Path, "/") || path == "/" {
		return nil, fmt.Errorf("sink %q: path names a directory; give the file's name", o.Path)
	}
	perm := o.Mode
	if perm == 0 {
		return nil, fmt.Errorf("sink %q: mode 0000 gives no one access to the token: give the mode, such as 0600", o.Path)
	}
	if perm&^os.ModePerm != 0 {
		return nil, fmt.Errorf("sink %q: mode %#o: only permission bits (0001-0777) are allowed", o.Path, uint32(perm))
	}
	if err := checkFormat(o.Format); err != nil {
		return nil, fmt.Errorf("sink %q: %w", o.Path, err)
	}
	if err := checkID(o.UID); err != nil {
		return nil, fmt.Errorf("sink %q: owner: %w", o.Path, err)
	}
	if err := checkID(o.GID); err != nil {
		return nil, fmt.Errorf("sink %q: group: %w", o.Path, err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &File{
		path:   path,
		dir:    filepath.Dir(path),
		perm:   perm,
		uid:    o.UID,
		gid:    o.GID,
		format: o.Format,
		log:    log,
		rand:   rand.Reader,
	}, nil
}

// checkID checks that id is a uid or gid chown takes, or -1 (unchanged).
func checkID(id int) error {
	if id < -1 || id >= math.MaxUint32 { // 2^32-1 is chown's "unchanged" too
		return fmt.Errorf("id %d is out of range", id)
	}
	return nil
}

// Name returns "file:" and the path.
func (f *File) Name() string { return "file:" + f.path }

// Check proves the sink can write: the directory exists and the path to it
// follows no symlink others could have made (CheckParents), no symlink or
// non-file sits at the target, and a temp file can be created (and chowned,
// when an owner or group is set) and removed there. It also removes temp
// files a crashed write left behind. It neither creates the directory nor
// touches the target.
func (f *File) Check() error {
	if err := CheckParents(f.dir); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	fi, err := os.Stat(f.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sink %q: directory %s does not exist: create it (e.g. RuntimeDirectory= in the systemd unit, or tmpfiles.d) or change the sink path", f.path, f.dir)
	case err != nil:
		return fmt.Errorf("sink %q: %w", f.path, err)
	case !fi.IsDir():
		return fmt.Errorf("sink %q: %s is not a directory: change the sink path", f.path, f.dir)
	}
	if _, err := f.checkTarget(); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	f.removeLeftovers()

	tmp, err := f.createTemp()
	if err != nil {
		return fmt.Errorf("sink %q: cannot create a file in %s: %w; give the agent's user write access to the directory or change the sink path", f.path, f.dir, err)
	}
	err = f.chown(tmp)
	tmp.Close()
	if rerr := os.Remove(tmp.Name()); err == nil && rerr != nil {
		err = fmt.Errorf("remove check file: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	f.log.Debug("sink check passed", zap.String(fieldPath, f.path))
	return nil
}

// Write replaces the file with t in the sink's format, unless t.Token is the
// token this sink last wrote. See the package comment for how.
func (f *File) Write(ctx context.Context, t Token) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	if t.Token == "" {
		return fmt.Errorf("sink %q: refusing to write an empty token", f.path)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Token == f.last {
		f.log.Debug("token unchanged, write skipped", zap.String(fieldPath, f.path), zap.String(fieldAccessor, t.Accessor))
		return nil
	}
	data, err := Encode(f.format, t)
	if err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	if err := f.replace(data); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	f.last = t.Token
	f.log.Info("token written", zap.String(fieldPath, f.path), zap.String(fieldAccessor, t.Accessor), zap.Int(fieldBytes, len(data)))
	return nil
}

// Remove removes the file if it holds a regular file, and forgets the last
// token so a later Write writes again.
func (f *File) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = ""
	exists, err := f.checkTarget()
	if err != nil {
		return fmt.Errorf("sink %q: not removed: %w", f.path, err)
	}
	if !exists {
		return nil
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	f.log.Info("token file removed", zap.String(fieldPath, f.path))
	return nil
}

// replace makes data the target's content: temp file in the same directory
// (exclusive, final mode) -> fchown -> write -> fsync -> rename -> fsync dir.
// On failure it removes its temp file and the target is as it was.
func (f *File) replace(data []byte) (err error) {
	if err := CheckParents(f.dir); err != nil {
		return err
	}
	if _, err := f.checkTarget(); err != nil {
		return err
	}
	tmp, err := f.createTemp()
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			tmp.Close() // may be closed already
			os.Remove(tmp.Name())
		}
	}()
	if err := f.chown(tmp); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	renamed = true
	return syncDir(f.dir)
}

// checkTarget reports whether the target exists, and fails if it is a
// symlink or anything but a regular file. It never follows a symlink.
func (f *File) checkTarget() (exists bool, err error) {
	fi, err := os.Lstat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return true, fmt.Errorf("%s is a symlink: refusing to write through symlink; remove the link or set the sink path to a file in a directory only the agent can write", f.path)
	case fi.IsDir():
		return true, fmt.Errorf("%s is a directory, not a regular file: remove it or change the sink path", f.path)
	case !fi.Mode().IsRegular():
		return true, fmt.Errorf("%s is not a regular file (%s): remove it or change the sink path", f.path, fi.Mode().Type())
	}
	return true, nil
}

// tempPrefix starts the names of the sink's temp files: ".<base>.tmp-".
func (f *File) tempPrefix() string { return "." + filepath.Base(f.path) + ".tmp-" }

// createTemp creates a new temp file next to the target with the final mode,
// set again with fchmod because the umask may have narrowed it.
func (f *File) createTemp() (*os.File, error) {
	var b [8]byte
	if _, err := io.ReadFull(f.rand, b[:]); err != nil {
		return nil, fmt.Errorf("temp file name: %w", err)
	}
	name := filepath.Join(f.dir, f.tempPrefix()+hex.EncodeToString(b[:]))
	tmp, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, f.perm)
	if err != nil {
		return nil, err
	}
	if err := tmp.Chmod(f.perm); err != nil {
		tmp.Close()
		os.Remove(name)
		return nil, err
	}
	return tmp, nil
}

// chown sets the configured owner and group on tmp, if any.
func (f *File) chown(tmp *os.File) error {
	if f.uid == -1 && f.gid == -1 {
		return nil
	}
	if err := tmp.Chown(f.uid, f.gid); err != nil {
		return fmt.Errorf("set owner %s, group %s: %w; the agent needs CAP_CHOWN for another owner, and may only choose a group it belongs to", idString(f.uid), idString(f.gid), err)
	}
	return nil
}

func idString(id int) string {
	if id == -1 {
		return "unchanged"
	}
	return strconv.Itoa(id)
}

// removeLeftovers removes temp files that a write interrupted by a crash
// left next to the target. Failures are logged, not returned: they do not
// stop the sink from working.
func (f *File) removeLeftovers() {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		f.log.Warn("cannot list directory for leftover temp files", zap.String(fieldPath, f.dir), zap.Error(err))
		return
	}
	prefix := f.tempPrefix()
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if _, err := hex.DecodeString(rest); err != nil || len(rest) != 16 {
			continue
		}
		p := filepath.Join(f.dir, e.Name())
		if err := os.Remove(p); err != nil {
			f.log.Warn("cannot remove leftover temp file", zap.String(fieldPath, p), zap.Error(err))
			continue
		}
		f.log.Info("removed leftover temp file", zap.String(fieldPath, p))
	}
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
