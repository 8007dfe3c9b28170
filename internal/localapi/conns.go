package localapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// tracked is an open connection: who is at the other end, and how to end
// its requests.
type tracked struct {
	peer   Peer
	known  bool               // false when the peer's credentials could not be read
	cancel context.CancelFunc // ends the context of every request on it
}

// uidOf is the uid a connection counts against: the peer's, or MaxUint32
// for a peer whose credentials are unknown.
func (t *tracked) uidOf() uint32 {
	if !t.known {
		return math.MaxUint32
	}
	return t.peer.UID
}

// connContext is the http.Server's ConnContext: it reads the peer's
// credentials once per connection, at accept, registers the connection,
// and closes it at once when its uid already holds maxConns connections.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	ctx = withConnPeer(ctx, c)
	r, _ := ctx.Value(peerKey{}).(peerResult)
	ctx, cancel := context.WithCancel(ctx)
	t := &tracked{peer: r.peer, known: r.err == nil, cancel: cancel}
	uid := t.uidOf()
	s.connMu.Lock()
	s.conns[c] = t
	s.perUID[uid]++
	n := s.perUID[uid]
	s.connMu.Unlock()
	if n > s.maxConns {
		if ok, left := s.crowds.allow(uid, time.Now()); ok {
			s.log.Warn("closed a connection: the caller's uid already holds the most connections allowed",
				zap.Uint32(fieldUID, uid), zap.Int32(fieldPID, t.peer.PID), zap.Int("max", s.maxConns), zap.Int(fieldSuppressed, left))
		}
		cancel()
		c.Close()
	}
	return ctx
}

// connState is the http.Server's ConnState: it forgets closed connections.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	if state != http.StateClosed && state != http.StateHijacked {
		return
	}
	s.connMu.Lock()
	t, ok := s.conns[c]
	if ok {
		delete(s.conns, c)
		uid := t.uidOf()
		if s.perUID[uid]--; s.perUID[uid] <= 0 {
			delete(s.perUID, uid)
		}
	}
	s.connMu.Unlock()
	if ok {
		t.cancel()
	}
}

// Reconfigure applies o's Mode, GID, AllowUIDs and AllowGIDs to the
// server, in place, as a reload does: the socket file gets its new mode and
// group at once, every request from now on is checked against the new
// allow lists, and the connections of callers that the new settings no
// longer admit are closed, their long-polls included. o.Path must be the
// server's path (a new path needs a new Server); Version, Sinks and Metrics
// are not changed. On an error nothing has changed.
func (s *Server) Reconfigure(o Options) error {
	if o.Path != s.path {
		return fmt.Errorf("socket sink %q: cannot move to %q in place", s.path, o.Path)
	}
	acc := newAccess(uint32(os.Geteuid()), o.AllowUIDs, o.AllowGIDs)
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	file, err := s.setFileAccess(o.Mode, o.GID)
	if err != nil {
		return fmt.Errorf("socket sink %q: %w", s.path, err)
	}
	s.perm, s.gid = o.Mode, o.GID
	s.policy.Store(acc)
	closed := s.sweep(acc, file)
	s.log.Info("socket settings changed in place", zap.String(fieldPath, s.path), zap.Stringer(fieldMode, o.Mode),
		zap.Int("group", o.GID), zap.Ints("allow_uids", o.AllowUIDs), zap.Ints("allow_gids", o.AllowGIDs),
		zap.Int("connections_closed", closed))
	return nil
}

// socketFile is the owner, group and mode of the socket file, which decide
// who can connect.
type socketFile struct {
	uid, gid uint32
	perm     os.FileMode
}

// setFileAccess gives the socket file perm and gid (-1: keep), and returns
// what the file then has; nil when the server is not listening, or the
// file at the path is no longer its own. The mode is first narrowed to
// what both the old and the new mode allow, so that no moment grants more
// than either setting. The caller holds s.lnMu.
func (s *Server) setFileAccess(perm os.FileMode, gid int) (*socketFile, error) {
	if s.ln == nil {
		return nil, nil
	}
	fi, err := os.Lstat(s.path)
	if err != nil || !os.SameFile(fi, s.lnFile) {
		s.log.Warn("the socket file is no longer this agent's: its mode and group are left alone", zap.String(fieldPath, s.path))
		return nil, nil
	}
	old := fi.Mode().Perm()
	if err := os.Chmod(s.path, old&perm); err != nil {
		return nil, fmt.Errorf("set socket mode: %w", err)
	}
	if gid != -1 {
		if err := os.Lchown(s.path, -1, gid); err != nil {
			_ = os.Chmod(s.path, old)
			return nil, fmt.Errorf("set socket group %d: %w; the agent may only choose a group it belongs to (or needs CAP_CHOWN)", gid, err)
		}
	}
	if err := os.Chmod(s.path, perm); err != nil {
		return nil, fmt.Errorf("set socket mode %#o: %w", uint32(perm), err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(s.path, &st); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: s.path, Err: err}
	}
	return &socketFile{uid: st.Uid, gid: st.Gid, perm: os.FileMode(st.Mode).Perm()}, nil
}

// sweep closes the connections whose caller acc does not allow, or who
// could not connect to the socket file as it is now (file nil: not
// checked), and returns how many it closed. A parked long-poll ends with
// its connection's context.
func (s *Server) sweep(acc *access, file *socketFile) int {
	s.connMu.Lock()
	gone := map[net.Conn]*tracked{}
	var uids []uint32
	for c, t := range s.conns {
		if t.known && acc.allows(t.peer) && (file == nil || file.admits(t.peer)) {
			continue
		}
		gone[c] = t
		if !slices.Contains(uids, t.uidOf()) {
			uids = append(uids, t.uidOf())
		}
	}
	s.connMu.Unlock()
	// Close first, then end the requests: a revoked caller gets no answer.
	for c, t := range gone {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("closing a connection", zap.Error(err))
		}
		t.cancel()
	}
	if len(gone) > 0 {
		slices.Sort(uids)
		s.log.Info("closed the connections of callers no longer allowed", zap.Int("connections", len(gone)), zap.Uint32s("uids", uids))
	}
	return len(gone)
}

// admits says whether the kernel lets p connect to the socket file, which
// takes write permission: root always; the owner by the owner bits; a
// member of the file's group by the group bits; anyone else by the other
// bits.
func (f *socketFile) admits(p Peer) bool {
	switch {
	case p.UID == 0:
		return true
	case p.UID == f.uid:
		return f.perm&0o200 != 0
	case p.GID == f.gid || slices.Contains(p.Groups, f.gid):
		return f.perm&0o020 != 0
	}
	return f.perm&0o002 != 0
}

// startWriting bounds the write of the response w carries to the server's
// write timeout, from now. A recorder without a connection (tests) is left
// alone.
func (s *Server) startWriting(w http.ResponseWriter) {
	err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.log.Debug("cannot set the write deadline", zap.Error(err))
	}
}
