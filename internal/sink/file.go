package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/atomicfile"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// FileOptions configures a file sink. The configuration has checked every
// value (config.FileSink): NewFile takes them as they are.
type FileOptions struct {
	Path string      // absolute and clean
	Mode os.FileMode // permission bits, 0001-0777
	// UID and GID are the file's owner and group; -1 leaves one as the agent's. The config
	// resolves names (config.FileSink's UID and GID), so that validate and startup refuse the
	// same settings.
	UID, GID int
	Format   string // "token" | "json" | "env"; "" means token

	// WrapTTL, when not 0, makes the file hold a wrapping token of each new
	// token (Wrap), as Vault Agent's sink wrap_ttl does: "token" writes the
	// wrapping token alone, "json" Vault's wrap info (EncodeWrapped).
	WrapTTL time.Duration
	// Wrap makes a wrapping token of t that lives ttl; required with WrapTTL.
	Wrap func(ctx context.Context, t token.Token, ttl time.Duration) (*api.SecretWrapInfo, error)
	// OnChange, when set, is called after the file got a new token: not
	// when a write is skipped because the token is the one it wrote last,
	// nor when the file held the token already (written by an agent before
	// a restart that kept its token).
	OnChange func()
}

// File is a sink that keeps the token in one file, replaced atomically.
type File struct {
	path   string
	dir    string
	opts   atomicfile.Options
	format string
	wrap   func(ctx context.Context, t token.Token) (*api.SecretWrapInfo, error) // nil: the token itself is written
	change func()
	log    *zap.Logger

	mu   sync.Mutex
	last string // the token last written successfully; "" before the first
}

var _ Sink = (*File)(nil)

// NewFile returns the file sink of o. log should be named by the caller
// (log.Named("sink.file")); nil discards.
func NewFile(o FileOptions, log *zap.Logger) *File {
	if log == nil {
		log = zap.NewNop()
	}
	f := &File{
		path:   o.Path,
		dir:    filepath.Dir(o.Path),
		opts:   atomicfile.Options{Perm: o.Mode, UID: o.UID, GID: o.GID},
		format: o.Format,
		change: o.OnChange,
		log:    log,
	}
	if o.WrapTTL > 0 {
		f.wrap = func(ctx context.Context, t token.Token) (*api.SecretWrapInfo, error) {
			return o.Wrap(ctx, t, o.WrapTTL)
		}
	}
	return f
}

// Name returns "file:" and the path.
func (f *File) Name() string { return "file:" + f.path }

// Check proves the sink can write: the directory exists and the path to it
// follows no symlink others could have made (atomicfile.CheckDir), no
// symlink or non-file sits at the target, and a temp file can be created
// (and chowned, when an owner or group is set) and removed there. It also
// removes temp files a crashed write left behind. It neither creates the
// directory nor touches the target.
func (f *File) Check() error {
	if err := atomicfile.CheckDir(f.dir); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	if _, err := f.checkTarget(); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	f.removeLeftovers()

	tmp, err := atomicfile.CreateTemp(f.path, f.opts)
	if err != nil {
		return fmt.Errorf("sink %q: cannot create a file in %s: %w; give the agent's user write access to the directory or change the sink path", f.path, f.dir, err)
	}
	err = atomicfile.Chown(tmp, f.opts)
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
func (f *File) Write(ctx context.Context, t token.Token) error {
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
	data, err := f.encode(ctx, t)
	if err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	// A file that holds t already (a restart that kept its token): no change
	// for on_change, though it is written again. A wrapped one never holds t.
	held := f.wrap == nil && f.holds(t.Token)
	if err := f.replace(data); err != nil {
		return fmt.Errorf("sink %q: %w", f.path, err)
	}
	f.last = t.Token
	f.log.Info("token written", zap.String(fieldPath, f.path), zap.String(fieldAccessor, t.Accessor), zap.Int(fieldBytes, len(data)),
		zap.Bool(fieldWrapped, f.wrap != nil))
	if f.change != nil && !held {
		f.change()
	}
	return nil
}

// holds reports whether the file holds tok, in whatever format: tokens are
// long random strings, so one inside the file is that token.
func (f *File) holds(tok string) bool {
	fd, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer fd.Close()
	b, err := io.ReadAll(io.LimitReader(fd, 64<<10))
	return err == nil && bytes.Contains(b, []byte(tok))
}

// encode renders t in the sink's format, or a wrapping token of t when the
// sink wraps.
func (f *File) encode(ctx context.Context, t token.Token) ([]byte, error) {
	if f.wrap == nil {
		return Encode(f.format, t)
	}
	w, err := f.wrap(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("wrap the token (wrap_ttl): %w", err)
	}
	return EncodeWrapped(f.format, w)
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

// replace makes data the target's content (atomicfile.Write), after the
// checks that every write makes again: no symlink others could have made
// above the target, and none at it.
func (f *File) replace(data []byte) error {
	if err := atomicfile.CheckParents(f.dir); err != nil {
		return err
	}
	if _, err := f.checkTarget(); err != nil {
		return err
	}
	return atomicfile.Write(f.path, data, f.opts)
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

// removeLeftovers removes temp files that a write interrupted by a crash
// left next to the target. Failures are logged, not returned: they do not
// stop the sink from working.
func (f *File) removeLeftovers() {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		f.log.Warn("cannot list directory for leftover temp files", zap.String(fieldPath, f.dir), zap.Error(err))
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !atomicfile.IsTemp(f.path, e.Name()) {
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
