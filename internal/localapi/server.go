package localapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/sink"
)

// DefaultSocket is where the agent listens and the commands connect unless
// told otherwise.
const DefaultSocket = "/run/xauth-agent/agent.sock"

// DefaultMode is the socket file's mode when Options.Mode is 0.
const DefaultMode os.FileMode = 0o660

// MaxWait caps the ?wait= of a long-poll.
const MaxWait = 5 * time.Minute

// maxWaiters caps the long-polls parked at once; more get 429.
const maxWaiters = 1024

// Log field names.
const (
	fieldPath       = "path"
	fieldMode       = "mode"
	fieldAccessor   = "accessor"
	fieldGeneration = "generation"
	fieldUID        = "uid"
	fieldGID        = "gid"
	fieldPID        = "pid"
	fieldSuppressed = "suppressed"
	fieldMethod     = "method"
	fieldURLPath    = "url_path"
	fieldStatus     = "status"
	fieldDuration   = "duration"
)

// Options configures a Server.
type Options struct {
	Path      string      // absolute path of the socket file
	Mode      os.FileMode // permission bits of the socket file; 0 means DefaultMode
	Group     string      // group name or numeric gid for the socket file; "" leaves the agent's group
	AllowUIDs []int       // callers allowed by uid, besides the agent's own uid
	AllowGIDs []int       // callers allowed by primary or supplementary gid
	Version   string      // reported by /v1/status

	// Sinks reports every sink's last write for /v1/status, typically
	// (*sink.Fanout).Statuses; nil reports none.
	Sinks func() []sink.Status
	// Metrics is served on /metrics; nil creates a fresh one (see Metrics()).
	Metrics *Metrics
}

// Server is the socket sink and the local API. It is a sink.Sink: Write
// makes a token available to callers. Serve (or Listen, then Serve) runs
// the HTTP server on the socket.
type Server struct {
	path     string
	perm     os.FileMode
	gid      int // -1 leaves the group unchanged
	access   access
	version  string
	statuses func() []sink.Status
	metrics  *Metrics
	log      *zap.Logger
	denials  denyLog
	handler  *handler

	mu      sync.Mutex
	tok     sink.Token
	gen     uint64        // 0 until the first token
	changed chan struct{} // closed and replaced on every update
	state   string
	lastErr string
	next    time.Time
	waiters int

	lnMu     sync.Mutex
	ln       *net.UnixListener
	lnFile   os.FileInfo // the socket file Listen created, to remove only our own
	serving  bool
	onParked func() // test hook: a long-poll is parked
}

var _ sink.Sink = (*Server)(nil)

// New validates o and resolves its group. log should be named by the
// caller (log.Named("sink.socket")); nil discards.
func New(o Options, log *zap.Logger) (*Server, error) {
	if o.Path == "" {
		return nil, errors.New("socket sink: path is empty")
	}
	if !filepath.IsAbs(o.Path) {
		return nil, fmt.Errorf("socket sink %q: path must be absolute", o.Path)
	}
	path := filepath.Clean(o.Path)
	if strings.HasSuffix(o.Path, "/") || path == "/" {
		return nil, fmt.Errorf("socket sink %q: path names a directory; give the socket's name", o.Path)
	}
	perm := o.Mode
	if perm == 0 {
		perm = DefaultMode
	}
	if perm&^os.ModePerm != 0 {
		return nil, fmt.Errorf("socket sink %q: mode %#o: only permission bits (0000-0777) are allowed", o.Path, uint32(perm))
	}
	gid := -1
	if o.Group != "" {
		g, err := lookupGroup(o.Group)
		if err != nil {
			return nil, fmt.Errorf("socket sink %q: group %q: %w", o.Path, o.Group, err)
		}
		gid = g
	}
	acc, err := newAccess(uint32(os.Geteuid()), o.AllowUIDs, o.AllowGIDs)
	if err != nil {
		return nil, fmt.Errorf("socket sink %q: %w", o.Path, err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(o.Version)
	}
	s := &Server{
		path:     path,
		perm:     perm,
		gid:      gid,
		access:   acc,
		version:  o.Version,
		statuses: o.Sinks,
		metrics:  m,
		log:      log,
		denials:  denyLog{every: DenyLogInterval},
		changed:  make(chan struct{}),
		state:    "starting",
	}
	s.handler = &handler{s: s}
	return s, nil
}

// lookupGroup turns a group name or a numeric gid into a gid.
func lookupGroup(s string) (int, error) {
	if strings.Trim(s, "0123456789") != "" {
		g, err := user.LookupGroup(s)
		if errors.As(err, new(user.UnknownGroupError)) {
			return 0, errors.New("unknown group")
		}
		if err != nil {
			return 0, err
		}
		s = g.Gid
	}
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil || id == math.MaxUint32 { // 2^32-1 is chown's "unchanged"
		return 0, fmt.Errorf("gid %s is out of range", s)
	}
	return int(id), nil
}

// Name returns "socket:" and the path.
func (s *Server) Name() string { return "socket:" + s.path }

// Path returns the socket file's path.
func (s *Server) Path() string { return s.path }

// Metrics returns the metrics served on /metrics, for the daemon to count
// logins, renewals, backoffs and sink errors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Write makes t the token callers get. A token string different from the
// current one bumps the generation and wakes long-polls; the same string
// (a renewal) only updates the expiry and the other details. It never
// blocks on callers and fails only for an empty token.
func (s *Server) Write(_ context.Context, t sink.Token) error {
	if t.Token == "" {
		return fmt.Errorf("socket sink %q: refusing an empty token", s.path)
	}
	s.mu.Lock()
	fresh := t.Token != s.tok.Token
	s.tok = t
	if fresh {
		s.gen++
	}
	gen := s.gen
	s.broadcast()
	s.mu.Unlock()
	s.metrics.tokenExpiry(t.ExpiresAt)
	if fresh {
		s.log.Info("token available on socket", zap.String(fieldPath, s.path), zap.String(fieldAccessor, t.Accessor), zap.Uint64(fieldGeneration, gen))
	}
	return nil
}

// Renewed updates the expiry (and policies, renewable) of the current
// token after a renewal, which does not go through the sinks because the
// token string stays the same. A t for another token than the current one
// is ignored. The daemon calls it from its renew.Observer.
func (s *Server) Renewed(t sink.Token) {
	s.mu.Lock()
	if s.gen == 0 || t.Token != s.tok.Token {
		s.mu.Unlock()
		return
	}
	s.tok = t
	s.broadcast()
	s.mu.Unlock()
	s.metrics.tokenExpiry(t.ExpiresAt)
}

// SetState records the lifecycle's state for /v1/health and /v1/status:
// a short word such as "logging-in" or "renewing", the last error (nil
// after a success), and when the next renewal or login is due (zero if
// unknown).
func (s *Server) SetState(state string, lastErr error, nextRenewal time.Time) {
	msg := ""
	if lastErr != nil {
		msg = lastErr.Error()
	}
	s.mu.Lock()
	s.state, s.lastErr, s.next = state, msg, nextRenewal
	s.broadcast()
	s.mu.Unlock()
}

// broadcast wakes every parked long-poll. The caller holds s.mu.
func (s *Server) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// snapshot is the server's state at one instant.
type snapshot struct {
	tok     sink.Token
	gen     uint64
	state   string
	lastErr string
	next    time.Time
}

func (s *Server) snapshot() (snapshot, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tok
	tok.Policies = slices.Clone(tok.Policies)
	return snapshot{tok: tok, gen: s.gen, state: s.state, lastErr: s.lastErr, next: s.next}, s.changed
}

// Token states.
const (
	tokenValid   = "valid"
	tokenNone    = "none"
	tokenExpired = "expired"
)

// tokenState says whether the snapshot holds a usable token at now. A
// token without an expiry (lease 0) never expires.
func (sn snapshot) tokenState(now time.Time) string {
	switch {
	case sn.gen == 0:
		return tokenNone
	case !sn.tok.ExpiresAt.IsZero() && !now.Before(sn.tok.ExpiresAt):
		return tokenExpired
	}
	return tokenValid
}

// park registers a long-poll; false when too many are parked.
func (s *Server) park() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters >= maxWaiters {
		return false
	}
	s.waiters++
	return true
}

func (s *Server) unpark() {
	s.mu.Lock()
	s.waiters--
	s.mu.Unlock()
}
