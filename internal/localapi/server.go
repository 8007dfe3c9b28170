package localapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/sink"
)

// DefaultSocket is where the agent listens and the commands connect unless
// told otherwise.
const DefaultSocket = "/run/xauth-agent/agent.sock"

// DefaultMode is the socket file's mode unless the configuration sets one.
const DefaultMode os.FileMode = 0o660

// MaxWait caps the ?wait= of a long-poll.
const MaxWait = 5 * time.Minute

// maxWaiters caps the long-polls parked at once; more get 429.
const maxWaiters = 1024

// WriteTimeout bounds the writing of each response, from its first byte: a caller that stops
// reading (or pipelines requests and never reads the answers) loses its connection then. A
// long-poll's wait comes before its response and is not counted.
const WriteTimeout = 10 * time.Second

// MaxConnsPerUID caps the connections one caller uid holds open at once; a connection over the
// cap is closed as soon as it is accepted (logged, at most once per DenyLogInterval per uid).
const MaxConnsPerUID = 128

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
	Mode      os.FileMode // permission bits of the socket file, 0001-0777 (0 is refused)
	GID       int         // group of the socket file; -1 leaves the agent's group (the zero value is root's group)
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
	policy   atomic.Pointer[access] // who may call; Reconfigure swaps it
	version  string
	statuses func() []sink.Status
	metrics  *Metrics
	log      *zap.Logger
	denials  denyLog
	crowds   denyLog // connections closed over MaxConnsPerUID, logged per uid
	handler  *handler

	writeTimeout time.Duration // WriteTimeout; tests shorten it
	readTimeout  time.Duration // readTimeout; tests shorten it
	maxConns     int           // MaxConnsPerUID; tests lower it

	connMu sync.Mutex
	conns  map[net.Conn]*tracked
	perUID map[uint32]int // open connections by caller uid

	mu      sync.Mutex
	tok     sink.Token
	gen     uint64        // 0 until the first token
	changed chan struct{} // closed and replaced on every update
	state   string
	lastErr string
	next    time.Time
	waiters int

	lnMu     sync.Mutex
	perm     os.FileMode // the socket file's mode; guarded by lnMu
	gid      int         // the socket file's group, -1 for the agent's; guarded by lnMu
	ln       *net.UnixListener
	lnFile   os.FileInfo // the socket file Listen created, to remove only our own
	serving  bool
	onParked func() // test hook: a long-poll is parked
}

var _ sink.Sink = (*Server)(nil)

// New validates o. log should be named by the caller
// (log.Named("sink.socket")); nil discards.
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
	acc, err := checkAccess(o)
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
		path:         path,
		perm:         o.Mode,
		gid:          o.GID,
		version:      o.Version,
		statuses:     o.Sinks,
		metrics:      m,
		log:          log,
		denials:      denyLog{every: DenyLogInterval},
		crowds:       denyLog{every: DenyLogInterval},
		writeTimeout: WriteTimeout,
		readTimeout:  readTimeout,
		maxConns:     MaxConnsPerUID,
		conns:        map[net.Conn]*tracked{},
		perUID:       map[uint32]int{},
		changed:      make(chan struct{}),
		state:        "starting",
	}
	s.policy.Store(acc)
	s.handler = &handler{s: s}
	return s, nil
}

// checkAccess checks o's mode, group and allow lists, which New and Reconfigure take.
func checkAccess(o Options) (*access, error) {
	switch {
	case o.Mode == 0:
		return nil, errors.New("mode 0000 gives no one but root access: give the mode, such as 0660")
	case o.Mode&^os.ModePerm != 0:
		return nil, fmt.Errorf("mode %#o: only permission bits (0001-0777) are allowed", uint32(o.Mode))
	case o.GID < -1 || o.GID >= math.MaxUint32: // 2^32-1 is chown's "unchanged"
		return nil, fmt.Errorf("group %d is out of range", o.GID)
	}
	acc, err := newAccess(uint32(os.Geteuid()), o.AllowUIDs, o.AllowGIDs)
	if err != nil {
		return nil, err
	}
	return &acc, nil
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
// updates the expiry and the other details, unless t expires earlier than
// what the server holds (a renewal, through Renewed, extended it). It never
// blocks on callers and fails only for an empty token.
func (s *Server) Write(_ context.Context, t sink.Token) error {
	if t.Token == "" {
		return fmt.Errorf("socket sink %q: refusing an empty token", s.path)
	}
	s.mu.Lock()
	fresh := t.Token != s.tok.Token
	if fresh || !t.ExpiresAt.Before(s.tok.ExpiresAt) {
		s.tok = t // else keep what a renewal told: the same token lives longer
	}
	if fresh {
		s.gen++
	}
	gen, expires := s.gen, s.tok.ExpiresAt
	s.broadcast()
	s.mu.Unlock()
	s.metrics.tokenExpiry(expires)
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
