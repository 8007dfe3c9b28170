// Package atomicfile writes files the way the agent's token and nonce
// files need: Write replaces a file so that a reader sees the old content
// or the new, whole, and a crash leaves one of them (a temp file in the
// same directory, created exclusively with the final mode, chowned,
// written, fsynced and renamed over the target, then the directory
// fsynced); CheckDir and CheckParents say whether a directory may be
// written into at all.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Options say what a written file gets.
type Options struct {
	Perm     fs.FileMode // permission bits, set whatever the umask
	UID, GID int         // owner and group; -1 leaves one as the writer's
	Rand     io.Reader   // for temp file names; nil is crypto/rand
}

// Write makes data path's content: temp file in the same directory
// (exclusive, final mode) -> fchown -> write -> fsync -> rename -> fsync
// the directory. On failure it removes its temp file, and path is as it
// was. It does not look at the directory or at what path holds: callers
// check what they must (CheckDir, no symlink at a token file's path).
func Write(path string, data []byte, o Options) (err error) {
	tmp, err := CreateTemp(path, o)
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
	if err := Chown(tmp, o); err != nil {
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	renamed = true
	return syncDir(filepath.Dir(path))
}

// CreateTemp creates a new temp file next to path, named TempPrefix(path)
// and 16 random hex digits, with o.Perm, set again with fchmod because the
// umask may have narrowed it. It never opens an existing file.
func CreateTemp(path string, o Options) (*os.File, error) {
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return nil, fmt.Errorf("temp file name: %w", err)
	}
	name := TempPrefix(path) + hex.EncodeToString(b[:])
	tmp, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, o.Perm)
	if err != nil {
		return nil, err
	}
	if err := tmp.Chmod(o.Perm); err != nil {
		tmp.Close()
		os.Remove(name)
		return nil, err
	}
	return tmp, nil
}

// TempPrefix starts the names of path's temp files: "<dir>/.<base>.tmp-".
func TempPrefix(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
}

// IsTemp reports whether name, in path's directory, is one of
// CreateTemp's temp files for path (one a crash may have left).
func IsTemp(path, name string) bool {
	rest, ok := strings.CutPrefix(name, filepath.Base(TempPrefix(path)))
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// Chown gives f o's owner and group, if any.
func Chown(f *os.File, o Options) error {
	if o.UID == -1 && o.GID == -1 {
		return nil
	}
	if err := f.Chown(o.UID, o.GID); err != nil {
		return fmt.Errorf("set owner %s, group %s: %w; the agent needs CAP_CHOWN for another owner, and may only choose a group it belongs to", idString(o.UID), idString(o.GID), err)
	}
	return nil
}

func idString(id int) string {
	if id == -1 {
		return "unchanged"
	}
	return strconv.Itoa(id)
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

// CheckDir says whether files may be made in dir: the path to it follows
// no symlink others could have made (CheckParents), and it exists and is a
// directory. The error says what to change.
func CheckDir(dir string) error {
	if err := CheckParents(dir); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist: create it (e.g. RuntimeDirectory= in the systemd unit, or tmpfiles.d) or change the sink path", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory: change the sink path", dir)
	}
	return nil
}
