package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks CheckParents follows, as the kernel's ELOOP does.
const maxLinks = 40

// CheckParents decides whether a sink may write into dir when the path to it goes through
// symlinks. The file itself is never reached through a symlink (the sinks refuse one at the
// target); a symlink among the directories above it is followed when nobody but root and the
// agent's own user could have made it or could replace it:
//
//   - the symlink is owned by root or by the agent's effective uid, and
//   - the directory holding it is owned by one of them and writable by no one else, or has the
//     sticky bit (then only the link's owner may replace it).
//
// So standard layouts such as /var/run -> /run work, while a link another user planted or may
// swap, which would send the token (and its rename over an existing file) into a directory of
// their choice, is refused. dir must be absolute; a component that does not exist ends the walk
// without an error (the sink's own check reports a missing directory). Sinks call it at their
// start-up check and before every write.
func CheckParents(dir string) error {
	return checkParents(dir, uint32(os.Geteuid()))
}

// checkParents is CheckParents for an agent running as self.
func checkParents(dir string, self uint32) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("directory %q is not absolute", dir)
	}
	cur, rest := "/", splitPath(dir)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == ".." {
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		var st syscall.Stat_t
		if err := syscall.Lstat(next, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return &fs.PathError{Op: "lstat", Path: next, Err: err}
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return fmt.Errorf("the path to %s goes through more than %d symlinks", dir, maxLinks)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return err
		}
		if err := trustLink(next, cur, target, st.Uid, self); err != nil {
			return err
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return nil
}

// trustLink applies CheckParents' rule to the symlink link (owned by linkUID, pointing to
// target) in the directory dir.
func trustLink(link, dir, target string, linkUID, self uint32) error {
	trusted := func(uid uint32) bool { return uid == 0 || uid == self }
	use := fmt.Sprintf("give the directory it points to (%s) in the sink path instead", target)
	if !trusted(linkUID) {
		return fmt.Errorf("%s is a symlink owned by uid %d: a sink follows symlinks in its directory path only when root or the agent's user (uid %d) owns them; %s",
			link, linkUID, self, use)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: dir, Err: err}
	}
	othersWrite := st.Mode&0o022 != 0 && st.Mode&syscall.S_ISVTX == 0
	if !trusted(st.Uid) || othersWrite {
		return fmt.Errorf("%s is a symlink in %s (owner uid %d, mode %04o), where users other than root and the agent's user (uid %d) may replace it: a sink does not follow it; %s, or make %s writable only by root",
			link, dir, st.Uid, st.Mode&0o7777, self, use, dir)
	}
	return nil
}

// splitPath splits a path into its names, dropping empty ones and ".".
func splitPath(p string) []string {
	var out []string
	for _, name := range strings.Split(p, "/") {
		if name != "" && name != "." {
			out = append(out, name)
		}
	}
	return out
}
