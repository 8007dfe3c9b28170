package login

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xauth-agent/xauth-agent/internal/atomicfile"
)

// maxNonceLen is the longest client nonce Vault accepts.
const maxNonceLen = 128

// storedNonce is what a nonce file holds.
type storedNonce struct {
	value string
	perm  fs.FileMode // the file's permission bits
}

// newNonce makes a client nonce: 32 bytes from crypto/rand, in hex.
func newNonce() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a client nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loadNonce reads the nonce kept at path. ok is false when the file does
// not exist or holds only white space. Surrounding white space is dropped,
// so an operator may write the nonce back with `echo`.
func loadNonce(path string) (n storedNonce, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return storedNonce{}, false, nil
	}
	if err != nil {
		return storedNonce{}, false, fmt.Errorf("read the nonce file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return storedNonce{}, false, fmt.Errorf("read the nonce file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return storedNonce{}, false, fmt.Errorf("nonce file %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return storedNonce{}, false, fmt.Errorf("read the nonce file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return storedNonce{}, false, nil
	}
	if len(v) > maxNonceLen || strings.ContainsAny(v, " \t\r\n") {
		return storedNonce{}, false, fmt.Errorf("nonce file %s does not hold one nonce of at most %d characters (Vault's limit): put the instance's nonce back, or remove the file and vault delete the instance's identity-accesslist entry", path, maxNonceLen)
	}
	return storedNonce{value: v, perm: fi.Mode().Perm()}, true, nil
}

// ensureNonce returns the nonce kept at path. When there is none it makes
// one and writes it before returning, so that a login that follows, even
// one cut short by a crash, was made with a nonce that is on disk.
func ensureNonce(path string) (n storedNonce, created bool, err error) {
	n, ok, err := loadNonce(path)
	if err != nil || ok {
		return n, false, err
	}
	v, err := newNonce()
	if err != nil {
		return storedNonce{}, false, err
	}
	if err := storeNonce(path, v); err != nil {
		return storedNonce{}, false, err
	}
	return storedNonce{value: v, perm: 0o600}, true, nil
}

// storeNonce writes nonce to path atomically (atomicfile.Write, mode
// 0600): a crash leaves either the old file or the new one, never a partial
// one. The directory is made (0700) when missing.
func storeNonce(path, nonce string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("nonce file directory: %w", err)
	}
	if err := atomicfile.Write(path, []byte(nonce+"\n"), atomicfile.Options{Perm: 0o600, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("write the nonce file: %w", err)
	}
	return nil
}
