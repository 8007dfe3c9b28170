package state

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/xauth-agent/xauth-agent/internal/atomicfile"
	"github.com/xauth-agent/xauth-agent/internal/config"
)

// RecordFile is the name of the token record in the runtime directory.
const RecordFile = "resume.json"

// Record is the daemon's current token, kept so that a restart can take it
// over: the token, its accessor, and the Fingerprint of the settings it
// was logged in with.
type Record struct {
	Token       string `json:"token"`
	Accessor    string `json:"accessor"`
	Fingerprint string `json:"fingerprint"`
}

// Fingerprint is what identifies a login, hashed: the Vault address (the
// first of a list: the other nodes of a cluster take the same tokens) and
// namespace, the auth type, mount, role and server ID header, and the
// role assumed for signing. A token kept under another fingerprint was
// logged in as someone else, or at another Vault: it is not taken over.
// The value is sha256 over a canonical JSON encoding, in hex; it may be
// logged.
func Fingerprint(v config.Vault, a config.Auth) string {
	id := struct {
		Version                        int
		Address, Namespace             string
		Method, Type, Mount, Role      string
		HeaderValue                    string
		AssumeRoleARN, ExternalID      string
		SessionName, AssumeRoleSeconds string
	}{
		Version: 1,
		Address: v.Address(), Namespace: v.Namespace,
		Method: a.Method, Type: a.Type, Mount: a.Mount, Role: a.Role,
		HeaderValue:   a.HeaderValue,
		AssumeRoleARN: a.AssumeRole.ARN, ExternalID: a.AssumeRole.ExternalID,
		SessionName: a.AssumeRole.SessionName, AssumeRoleSeconds: a.AssumeRole.Duration.String(),
	}
	b, _ := json.Marshal(id) // strings and an int: cannot fail; field order is the struct's
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Store keeps the Record in a runtime directory on tmpfs or ramfs.
type Store struct {
	path string
}

// Filesystem magic numbers (statfs(2)) of the memory filesystems a token
// may be kept on.
const (
	tmpfsMagic = unix.TMPFS_MAGIC
	ramfsMagic = unix.RAMFS_MAGIC
)

// OpenStore returns the Store of dir, creating dir (0700) when it is
// missing and its parent exists. It refuses a dir that is not on tmpfs or
// ramfs: the record holds a live token, which must not reach persistent
// disk. The error says which directory and what to change.
func OpenStore(dir string) (*Store, error) {
	if err := ensureDir(dir, "runtime_dir (--runtime-dir)"); err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("runtime directory %s: statfs: %w", dir, err)
	}
	if t := int64(st.Type); t != tmpfsMagic && t != ramfsMagic {
		return nil, fmt.Errorf("runtime directory %s is not on tmpfs or ramfs (filesystem type 0x%x), and a live token must not be kept on persistent disk: set runtime_dir (--runtime-dir) to a directory under /run (the systemd unit's RuntimeDirectory=)", dir, t)
	}
	return &Store{path: filepath.Join(dir, RecordFile)}, nil
}

// Path is the record file's path.
func (s *Store) Path() string { return s.path }

// Load reads the record. ok is false when there is none; a record that
// does not decode, or is not the agent's (not a regular 0600 file), is an
// error, and the caller logs in as if there were none.
func (s *Store) Load() (r Record, ok bool, err error) {
	fi, err := os.Lstat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Record{}, false, nil
	case err != nil:
		return Record{}, false, fmt.Errorf("token record %s: %w", s.path, err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600:
		return Record{}, false, fmt.Errorf("token record %s is not a regular file of mode 0600 (%s): remove it", s.path, fi.Mode())
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return Record{}, false, fmt.Errorf("token record %s: %w", s.path, err)
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Token == "" || r.Fingerprint == "" {
		// json's error may quote the content: never in a message.
		return Record{}, false, fmt.Errorf("token record %s does not hold a token and a fingerprint: remove it", s.path)
	}
	return r, true, nil
}

// Save replaces the record with r, atomically, mode 0600.
func (s *Store) Save(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the token record: %w", err)
	}
	if err := atomicfile.Write(s.path, b, atomicfile.Options{Perm: 0o600, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("write the token record %s: %w", s.path, err)
	}
	return nil
}

// Remove removes the record; none is not an error.
func (s *Store) Remove() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the token record %s: %w", s.path, err)
	}
	return nil
}
