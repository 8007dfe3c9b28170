package localapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// Probe paths, served on the socket and on the health listener.
const (
	PathLivez  = "/v1/livez"
	PathReadyz = "/v1/readyz"
)

// Sink states in Readiness.
const (
	SinkCurrent = "current" // holds the current token
	SinkStale   = "stale"   // holds an older token, or none yet, and has not failed
	SinkFailing = "failing" // its last write of the current token failed; it retries
)

// Liveness is /v1/livez's answer.
type Liveness struct {
	Live  bool   `json:"live"`
	State string `json:"state"` // the lifecycle's step
}

// Readiness is /v1/readyz's answer: ready when a valid token is held and
// every sink holds it.
type Readiness struct {
	Ready      bool            `json:"ready"`
	Generation uint64          `json:"generation"`
	TokenState string          `json:"token_state"` // "valid", "none" or "expired"
	Sinks      []SinkReadiness `json:"sinks"`
}

// SinkReadiness is one sink's line in Readiness.
type SinkReadiness struct {
	Type       string `json:"type"` // "file" or "socket"
	Path       string `json:"path"`
	Generation uint64 `json:"generation"` // the generation it holds; 0 = none yet
	State      string `json:"state"`      // SinkCurrent, SinkStale or SinkFailing
	Error      string `json:"error,omitempty"`
}

// Probes answers /v1/livez and /v1/readyz from the one token state and the
// file fan-out's statuses.
type Probes struct {
	State *token.Latest
	// Sinks reports every file sink's last write ((*sink.Fanout).Statuses); nil: none.
	Sinks func() []sink.Status
	// Socket is the path of the socket that serves the token, listed as a
	// sink that always holds the current token; "" when there is none.
	Socket string
	// Live reports whether the lifecycle runs; nil: always.
	Live func() bool
}

// Readiness is the readiness at now.
func (p *Probes) Readiness(now time.Time) Readiness {
	st, _ := p.State.Load()
	sn := snapshot(st)
	r := Readiness{Generation: st.Generation, TokenState: sn.tokenState(now), Sinks: []SinkReadiness{}}
	r.Ready = r.TokenState == tokenValid
	if p.Sinks != nil {
		for _, s := range p.Sinks() {
			typ, path, _ := strings.Cut(s.Name, ":")
			sr := SinkReadiness{Type: typ, Path: path, Generation: s.Generation, State: SinkCurrent}
			switch {
			case s.Generation == st.Generation && st.Generation != 0:
			case s.LastError != "":
				sr.State, sr.Error = SinkFailing, sn.redact(s.LastError)
			default:
				sr.State = SinkStale
			}
			r.Ready = r.Ready && sr.State == SinkCurrent
			r.Sinks = append(r.Sinks, sr)
		}
	}
	if p.Socket != "" {
		sr := SinkReadiness{Type: "socket", Path: p.Socket, Generation: st.Generation, State: SinkCurrent}
		if st.Generation == 0 {
			sr.State = SinkStale
		}
		r.Sinks = append(r.Sinks, sr)
	}
	return r
}

// livez: 200 while the lifecycle runs, else 503.
func (p *Probes) livez(w http.ResponseWriter, _ *http.Request) {
	st, _ := p.State.Load()
	l := Liveness{Live: p.Live == nil || p.Live(), State: st.Step}
	code := http.StatusOK
	if !l.Live {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, l)
}

// readyz: 200 when every sink holds the current, valid token, else 503.
func (p *Probes) readyz(w http.ResponseWriter, _ *http.Request) {
	r := p.Readiness(time.Now())
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, r)
}

// HealthOptions configures a HealthServer.
type HealthOptions struct {
	Address string // host:port on a loopback address, as the configuration checked (config.Health)
	Probes  *Probes
	Metrics *Metrics // served on /metrics
}

// HealthServer is the health listener: /v1/livez, /v1/readyz and /metrics
// over plain HTTP on a loopback TCP address, for probes and scrapers that
// cannot reach a unix socket. It serves nothing else: never the token, nor
// the status (404), and asks for no X-Xauth-Request header, since none of
// its answers is a secret.
type HealthServer struct {
	o   HealthOptions
	ln  net.Listener
	log *zap.Logger
}

// NewHealth returns the health listener of o. log should be named by the
// caller (log.Named("health")); nil discards.
func NewHealth(o HealthOptions, log *zap.Logger) *HealthServer {
	if log == nil {
		log = zap.NewNop()
	}
	return &HealthServer{o: o, log: log}
}

// Listen binds the address.
func (h *HealthServer) Listen() error {
	ln, err := net.Listen("tcp", h.o.Address)
	if err != nil {
		return fmt.Errorf("health listener: %w; free the port or change health.address", err)
	}
	h.ln = ln
	return nil
}

// Addr is the address listened on (after Listen).
func (h *HealthServer) Addr() string { return h.ln.Addr().String() }

// Serve answers requests until ctx ends. Listen must have succeeded.
func (h *HealthServer) Serve(ctx context.Context) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          stdLog(h.log),
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	h.log.Info("health listener serving", zap.String("address", h.Addr()))
	err := srv.Serve(h.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("health listener: %w", err)
}

// ServeHTTP routes the three paths; anything else is 404.
func (h *HealthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve http.HandlerFunc
	switch r.URL.Path {
	case PathLivez:
		serve = h.o.Probes.livez
	case PathReadyz:
		serve = h.o.Probes.readyz
	case PathMetrics:
		serve = h.o.Metrics.serve
	default:
		writeText(w, http.StatusNotFound, "not found: this listener serves "+PathLivez+", "+PathReadyz+" and "+PathMetrics)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, http.StatusMethodNotAllowed, "method not allowed: use GET")
		return
	}
	serve(w, r)
}
