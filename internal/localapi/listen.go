package localapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xauth-agent/xauth-agent/internal/atomicfile"
)

const (
	// maxSocketPath is the longest path bind(2) takes: sun_path holds 108
	// bytes on Linux, including the terminating NUL.
	maxSocketPath = 107
	// tempSuffix follows "." and the socket's name in the name of the
	// private directory Listen binds in; os.MkdirTemp appends up to 10
	// random digits.
	tempSuffix = ".tmp-"
	// tempSocket is the socket's name inside that directory.
	tempSocket = "s"
	// probeTimeout bounds the connect to an existing socket.
	probeTimeout = time.Second
	// shutdownGrace bounds what Serve waits for requests on exit.
	shutdownGrace = 2 * time.Second
	// readTimeout bounds reading one request, headers and body.
	readTimeout = 10 * time.Second
)

// Check proves at start-up, before any login, that Listen can work: the
// path fits a socket address, the directory exists and the path to it
// follows no symlink others could have made (atomicfile.CheckDir), the
// agent can write there, and no other file or live agent holds the path. It
// changes nothing. While this server is listening it only re-checks the
// directory.
func (s *Server) Check() error {
	dir := filepath.Dir(s.path)
	if n := len(s.tempPrefix()) + 10 + 1 + len(tempSocket); n > maxSocketPath {
		return fmt.Errorf("socket sink %q: path too long for a unix socket: the agent binds at %s<digits>/%s first (%d bytes, at most %d); use a shorter path", s.path, s.tempPrefix(), tempSocket, n, maxSocketPath)
	}
	if err := atomicfile.CheckDir(dir); err != nil {
		return fmt.Errorf("socket sink %q: %w", s.path, err)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("socket sink %q: cannot create files in %s: %w; give the agent's user write access to the directory or change the sink path", s.path, dir, err)
	}
	s.lnMu.Lock()
	listening := s.ln != nil
	s.lnMu.Unlock()
	if listening {
		return nil
	}
	if _, err := probe(s.path); err != nil {
		return fmt.Errorf("socket sink %q: %w", s.path, err)
	}
	return nil
}

// probe looks at what holds path: nothing (false), a stale socket (true),
// or something Listen must not replace (an error).
func probe(path string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case fi.Mode().Type() != fs.ModeSocket:
		return false, fmt.Errorf("%s exists and is not a socket (%s): remove it or change the sink path", path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("%s is in use: another process (a second agent?) accepts connections on it; stop it or change the sink path", path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, nil
	}
	return false, fmt.Errorf("cannot tell whether %s is in use: %w", path, err)
}

// Listen creates the socket file with its final mode and group and starts
// accepting connections (they are served once Serve runs). See the package
// comment for why it binds in a private directory and renames. Calling it
// again after it succeeded does nothing.
func (s *Server) Listen() error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln != nil {
		return nil
	}
	if err := s.listen(); err != nil {
		return fmt.Errorf("socket sink %q: %w", s.path, err)
	}
	return nil
}

// listen does Listen's work; the caller holds s.lnMu.
func (s *Server) listen() (err error) {
	stale, err := probe(s.path)
	if err != nil {
		return err
	}
	s.removeLeftovers()
	tmpDir, err := os.MkdirTemp(filepath.Dir(s.path), filepath.Base(s.tempPrefix())+"*") // mode 0700: only the agent's user can reach inside
	if err != nil {
		return fmt.Errorf("create private directory: %w", err)
	}
	tmp := filepath.Join(tmpDir, tempSocket)
	defer func() { // empty after the rename; holds the socket after a failure
		os.Remove(tmp)
		os.Remove(tmpDir)
	}()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false) // Serve removes the file at the final path, if still ours
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	if err := os.Chmod(tmp, s.perm); err != nil {
		return fmt.Errorf("set socket mode %#o: %w", uint32(s.perm), err)
	}
	if s.gid != -1 {
		if err := os.Lchown(tmp, -1, s.gid); err != nil {
			return fmt.Errorf("set socket group %d: %w; the agent may only choose a group it belongs to (or needs CAP_CHOWN)", s.gid, err)
		}
	}
	fi, err := os.Lstat(tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("move socket into place: %w", err)
	}
	s.ln, s.lnFile = ln, fi
	if stale {
		s.log.Info("replaced stale socket", zap.String(fieldPath, s.path))
	}
	s.log.Info("listening", zap.String(fieldPath, s.path), zap.Stringer(fieldMode, s.perm))
	return nil
}

// tempPrefix is the path of Listen's private directory, less the random
// digits: "<dir>/.<name>.tmp-".
func (s *Server) tempPrefix() string {
	return filepath.Join(filepath.Dir(s.path), "."+filepath.Base(s.path)+tempSuffix)
}

// removeLeftovers removes private directories (and the socket in each)
// that a Listen interrupted by a crash left next to the path. It removes
// only a directory named like its own holding nothing but a socket named
// tempSocket; failures are logged, not returned.
func (s *Server) removeLeftovers() {
	dir := filepath.Dir(s.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("cannot list directory for leftovers", zap.String(fieldPath, dir), zap.Error(err))
		return
	}
	prefix := filepath.Base(s.tempPrefix())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() || rest == "" || strings.Trim(rest, "0123456789") != "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Lstat(filepath.Join(p, tempSocket)); err == nil && fi.Mode().Type() == fs.ModeSocket {
			os.Remove(filepath.Join(p, tempSocket))
		}
		if err := os.Remove(p); err != nil {
			s.log.Warn("cannot remove leftover directory", zap.String(fieldPath, p), zap.Error(err))
			continue
		}
		s.log.Info("removed leftover directory", zap.String(fieldPath, p))
	}
}

// Serve listens (unless Listen already did) and serves the API until ctx
// ends, then stops: parked long-polls return 503, requests in flight get
// a moment to finish, and the socket file is removed if it is still the
// one Listen created. It returns nil when ctx ended, else the error that
// stopped it. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.lnMu.Lock()
	if s.serving {
		s.lnMu.Unlock()
		return fmt.Errorf("socket sink %q: Serve called twice", s.path)
	}
	s.serving = true
	ln := s.ln
	s.lnMu.Unlock()
	defer s.removeSocket()

	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	// No WriteTimeout: it would run from the request's arrival and cut
	// long-polls; each response's write is bounded from its start instead
	// (startWriting). ReadTimeout bounds reading a whole request, body
	// included; a long-poll's wait is not reading.
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.readTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       s.connContext,
		ConnState:         s.connState,
		ErrorLog:          stdLog(s.log),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("socket sink %q: %w", s.path, err)
	case <-ctx.Done():
	}
	cancelBase() // ends parked long-polls
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	return nil
}

// stdLog routes net/http's own messages (bad requests, accept errors) to
// log at warn level.
func stdLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log, zap.WarnLevel)
	if err != nil { // only for an invalid level
		return zap.NewStdLog(log)
	}
	return l
}

// Close stops listening and removes the socket file, for a server that
// listens but is not serving (a reload that did not go through). A server
// that serves stops with Serve's context instead.
func (s *Server) Close() { s.removeSocket() }

// removeSocket removes the socket file if the path still names the file
// Listen created (a successor may have replaced it), and closes the
// listener.
func (s *Server) removeSocket() {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln == nil {
		return
	}
	s.ln.Close()
	fi, err := os.Lstat(s.path)
	if err == nil && os.SameFile(fi, s.lnFile) {
		if err := os.Remove(s.path); err != nil {
			s.log.Warn("cannot remove socket", zap.String(fieldPath, s.path), zap.Error(err))
			return
		}
		s.log.Info("socket removed", zap.String(fieldPath, s.path))
	}
}
