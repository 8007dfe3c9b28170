package localapi

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/vault"
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
	// The values the configuration checked (config.SocketSink).
	Path      string      // absolute and clean path of the socket file
	Mode      os.FileMode // permission bits of the socket file, 0001-0777
	GID       int         // group of the socket file; -1 leaves the agent's group (the zero value is root's group)
	AllowUIDs []int       // callers allowed by uid, besides the agent's own uid
	AllowGIDs []int       // callers allowed by primary or supplementary gid
	Version   string      // reported by /v1/status

	// State is the token and the lifecycle's state the API serves; nil
	// serves an empty one.
	State *token.Latest
	// Sinks reports every file sink's last write for /v1/status, typically
	// (*sink.Fanout).Statuses; nil reports none.
	Sinks func() []sink.Status
	// Vault reports each Vault address's state for /v1/status, typically
	// the Status of the client's vault.Selector; nil reports none.
	Vault func() []vault.AddressStatus
	// Metrics is served on /metrics; nil creates a fresh one of State (see Metrics()).
	Metrics *Metrics
	// Live reports for /v1/livez whether the lifecycle runs; nil: always.
	Live func() bool
}

// Server is the socket sink and the local API: it serves the token and
// the lifecycle's state of a token.Latest to the callers it allows. Serve
// (or Listen, then Serve) runs the HTTP server on the socket.
type Server struct {
	path     string
	policy   atomic.Pointer[access] // who may call; Reconfigure swaps it
	version  string
	statuses func() []sink.Status
	vault    func() []vault.AddressStatus
	metrics  *Metrics
	log      *zap.Logger
	denials  denyLog
	crowds   denyLog // connections closed over MaxConnsPerUID, logged per uid
	handler  *handler
	probes   *Probes

	writeTimeout time.Duration // WriteTimeout; tests shorten it
	readTimeout  time.Duration // readTimeout; tests shorten it
	maxConns     int           // MaxConnsPerUID; tests lower it

	connMu sync.Mutex
	conns  map[net.Conn]*tracked
	perUID map[uint32]int // open connections by caller uid

	state   *token.Latest
	mu      sync.Mutex
	waiters int // parked long-polls

	lnMu     sync.Mutex
	perm     os.FileMode // the socket file's mode; guarded by lnMu
	gid      int         // the socket file's group, -1 for the agent's; guarded by lnMu
	ln       *net.UnixListener
	lnFile   os.FileInfo // the socket file Listen created, to remove only our own
	serving  bool
	onParked func() // test hook: a long-poll is parked
}

// New returns the server of o, whose values the configuration has checked
// (config.SocketSink). log should be named by the caller
// (log.Named("sink.socket")); nil discards.
func New(o Options, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	if o.State == nil {
		o.State = token.NewLatest()
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(o.Version, o.State)
	}
	s := &Server{
		path:         o.Path,
		perm:         o.Mode,
		gid:          o.GID,
		version:      o.Version,
		statuses:     o.Sinks,
		vault:        o.Vault,
		metrics:      m,
		log:          log,
		denials:      denyLog{every: DenyLogInterval},
		crowds:       denyLog{every: DenyLogInterval},
		writeTimeout: WriteTimeout,
		readTimeout:  readTimeout,
		maxConns:     MaxConnsPerUID,
		conns:        map[net.Conn]*tracked{},
		perUID:       map[uint32]int{},
		state:        o.State,
	}
	s.policy.Store(newAccess(uint32(os.Geteuid()), o.AllowUIDs, o.AllowGIDs))
	s.handler = &handler{s: s}
	s.probes = &Probes{State: o.State, Sinks: o.Sinks, Socket: o.Path, Live: o.Live}
	return s
}

// Name returns "socket:" and the path.
func (s *Server) Name() string { return "socket:" + s.path }

// Path returns the socket file's path.
func (s *Server) Path() string { return s.path }

// Metrics returns the metrics served on /metrics, for the daemon to count
// sink errors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// snapshot is what the API serves at one instant.
type snapshot token.State

func (s *Server) snapshot() (snapshot, <-chan struct{}) {
	st, changed := s.state.Load()
	return snapshot(st), changed
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
	case sn.Generation == 0:
		return tokenNone
	case !sn.Token.ExpiresAt.IsZero() && !now.Before(sn.Token.ExpiresAt):
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
