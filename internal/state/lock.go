package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// LockFile is the name of the lock in the state directory. It holds the
// pid of the agent that holds it.
const LockFile = "lock"

// Lock is the exclusive lock of a state directory (flock on LockFile),
// held until Close or the process ends.
type Lock struct {
	f *os.File
}

// LockedError is a state directory another agent holds: exit code 2
// (failure.Config), since a second agent on one directory is a
// configuration mistake.
type LockedError struct {
	Dir string
	PID int // 0 when the holder has not written it yet
}

func (e *LockedError) Error() string {
	holder := "another xauth-agent"
	if e.PID > 0 {
		holder += fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s: stop that agent, or give this one its own state_dir (--state-dir)", e.Dir, holder)
}

// Unwrap gives the kind of failure.
func (e *LockedError) Unwrap() error { return failure.Config }

// TakeLock takes the exclusive lock of dir, creating dir (0700, its
// parent must exist) and the lock file when missing, and writes the
// process's pid into it. Another agent holding it is a *LockedError.
func TakeLock(dir string) (*Lock, error) {
	if err := ensureDir(dir, "state_dir (--state-dir)"); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, failure.Mark(failure.Config, fmt.Errorf("lock file %s: %w: the agent's user must be able to write the state directory, or set state_dir (--state-dir)", path, err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write the pid into the lock file %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Close releases the lock. The file stays: removing it would let a third
// agent lock a new file while a second still waits on the old one.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// readPID reads the holder's pid from the lock file; 0 when unreadable.
func readPID(f *os.File) int {
	var b [32]byte
	n, _ := f.ReadAt(b[:], 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// ensureDir creates dir (0700) when it is missing; its parent must exist.
// setting names what to change in the error.
func ensureDir(dir, setting string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil || errors.Is(err, os.ErrExist) {
		fi, serr := os.Stat(dir)
		if serr == nil && !fi.IsDir() {
			return failure.Mark(failure.Config, fmt.Errorf("%s is not a directory: set %s to a directory", dir, setting))
		}
		return serr
	}
	return failure.Mark(failure.Config, fmt.Errorf("directory %s: %w: create it (the systemd unit's StateDirectory= and RuntimeDirectory= do), or set %s", dir, err, setting))
}
