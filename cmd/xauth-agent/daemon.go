package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/daemon"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
	"github.com/xauth-agent/xauth-agent/internal/login"
	"github.com/xauth-agent/xauth-agent/internal/renew"
	"github.com/xauth-agent/xauth-agent/internal/sink"
)

// exitGrace bounds what shutdown may spend on revoke_on_exit.
const exitGrace = 3 * time.Second

// session is one login identity: a Vault client, the login, and the
// lifecycle loop that keeps its token fresh. A reload that changes the
// vault or auth settings replaces the session (and so logs in again).
type session struct {
	cfg    *config.Config
	loop   *renew.Loop
	tokens renew.TokenAPI
	cancel context.CancelFunc
	done   chan error
}

func startSession(ctx context.Context, cfg *config.Config, fan *sink.Fanout, obs renew.Observer, log *zap.Logger) (*session, error) {
	vc, err := login.NewVaultClient(cfg.Vault)
	if err != nil {
		return nil, err
	}
	auth, err := authenticator(ctx, cfg, vc, log)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, tokens: renew.NewTokenAPI(vc), done: make(chan error, 1)}
	s.loop = &renew.Loop{
		Auth:    auth,
		Tokens:  s.tokens,
		Sinks:   fan,
		Observe: obs,
		Backoff: renew.Backoff{Min: cfg.Lifecycle.MinBackoff, Max: cfg.Lifecycle.MaxBackoff},
		Log:     log.Named("renew"),
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go func() { s.done <- s.loop.Run(ctx) }()
	return s, nil
}

func (s *session) stop() {
	s.cancel()
	<-s.done
}

// observer turns lifecycle events into systemd STATUS= lines, the local
// API's state and the metrics.
type observer struct {
	notify  *daemon.Notifier
	metrics *localapi.Metrics // nil-safe
	mu      sync.Mutex
	sock    *localapi.Server // nil without a socket sink; a reload may replace it
	tok     sink.Token       // the latest token, with its renewed expiry
	have    bool
	last    renew.Action // the step the previous Waiting scheduled
	state   string       // what the previous Waiting told the socket, for a new one
	lastErr error
	next    time.Time
}

// setSock makes s the local API the observer keeps informed (nil: none).
// A new server gets the current token, with the expiry its last renewal
// gave, and the lifecycle's state at once.
func (o *observer) setSock(s *localapi.Server) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sock = s
	if s == nil {
		return
	}
	if o.have {
		_ = s.Write(context.Background(), o.tok) // fails only for an empty token
	}
	if o.state != "" {
		s.SetState(o.state, o.lastErr, o.next)
	}
}

func (o *observer) socket() *localapi.Server {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sock
}

func (o *observer) status(state string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.have {
		return daemon.StatusLine(state, "", 0)
	}
	return daemon.StatusLine(state, o.tok.Accessor, time.Until(o.tok.ExpiresAt))
}

func (o *observer) set(t sink.Token) {
	o.mu.Lock()
	o.tok, o.have = t, true
	o.mu.Unlock()
}

func (o *observer) TokenChanged(t sink.Token) {
	o.set(t)
	o.metrics.LoginOK()
	o.metrics.Backoff(0)
}

func (o *observer) Renewed(t sink.Token) {
	o.set(t)
	if s := o.socket(); s != nil {
		s.Renewed(t) // renewals keep the token string, so they bypass the sinks
	}
	o.metrics.Renewed()
	o.metrics.Backoff(0)
	o.notify.Status(o.status("renewing"))
}

func (o *observer) Waiting(d renew.Decision, err error) {
	o.mu.Lock()
	failed := o.last
	o.last = d.Action
	o.mu.Unlock()
	state := "renewing"
	switch {
	case err != nil:
		state = "retrying-" + d.Action.String()
		o.metrics.Backoff(time.Until(d.At))
		if failed == renew.ActLogin {
			kind, _ := renew.Classify(err)
			o.metrics.LoginFailed(kind.String())
		}
	case d.Action == renew.ActLogin:
		state = "logging-in"
	}
	o.mu.Lock()
	o.state, o.lastErr, o.next = state, err, d.At
	sock := o.sock
	o.mu.Unlock()
	if sock != nil {
		sock.SetState(state, err, d.At)
	}
	o.notify.Status(o.status(state))
}

// sinkRetry is the wait after a sink's n-th consecutive failed write.
func sinkRetry(n int) time.Duration {
	b := renew.Backoff{Min: time.Second, Max: time.Minute}
	var d time.Duration
	for range n {
		d = b.Next(rand.Float64())
	}
	return d
}

// runDaemon keeps a fresh token in every sink until ctx ends (SIGTERM,
// SIGINT). SIGHUP re-reads the configuration.
func runDaemon(ctx context.Context, o *options, cfg *config.Config, level zap.AtomicLevel, log *zap.Logger, stderr io.Writer) int {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	notify := daemon.NewNotifier(log.Named("systemd"))
	metrics := localapi.NewMetrics(version)
	obs := &observer{notify: notify, metrics: metrics}
	var readyOnce sync.Once
	fan := sink.NewFanout(log.Named("sink"), sinkRetry, func(gen uint64, t sink.Token) {
		// READY=1 only once the first token is in every sink.
		readyOnce.Do(func() { notify.Ready(obs.status("renewing")) })
		log.Info("token in every sink", zap.Uint64("generation", gen), zap.String("accessor", t.Accessor))
	})
	fan.WriteFailed = metrics.SinkError
	defer fan.Close()
	d := &agentDaemon{o: o, fan: fan, obs: obs, metrics: metrics, level: level, log: log}
	defer func() { // on any way out: no socket file is left behind
		if d.api != nil {
			d.api.stop()
		}
	}()

	var sock *localapi.Server
	if cfg.Socket != nil {
		var err error
		if sock, err = localapi.New(d.socketOptions(cfg.Socket), log.Named("sink.socket")); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return exitUsage
		}
	}
	sinks, code := checkedSinks(cfg, sock, log, stderr)
	if code != exitOK {
		return code
	}
	if sock != nil {
		if err := sock.Listen(); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return exitSink
		}
		d.api = serveAPI(ctx, sock)
		obs.setSock(sock)
	}
	fan.Set(ctx, sinks)
	sess, err := startSession(ctx, cfg, fan, obs, log)
	if err != nil {
		return fail(stderr, err)
	}
	d.sess = sess
	notify.Status(obs.status("logging-in"))
	log.Info("daemon started", zap.String("config", cfg.Source), zap.Int("sinks", len(sinks)))

	var watchdog <-chan time.Time
	if iv := notify.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		watchdog = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return shutdown(notify, d.sess, fan, log) // the deferred stop removes the socket file
		case err := <-d.apiDone():
			d.api = nil // its result is taken: nothing to stop
			obs.setSock(nil)
			if err != nil {
				fmt.Fprintln(stderr, "xauth-agent: local API socket:", err)
				return exitSink
			}
		case err := <-d.sess.done:
			fmt.Fprintln(stderr, "xauth-agent: lifecycle stopped:", err)
			return exitRuntime
		case <-watchdog:
			notify.Watchdog()
		case <-hup:
			notify.Reloading()
			d.reload(ctx)
			notify.Ready(obs.status("renewing"))
		}
	}
}

// agentDaemon is the daemon's state that a reload changes: the login
// session, the sinks and the local API.
type agentDaemon struct {
	o       *options
	fan     *sink.Fanout
	obs     *observer
	metrics *localapi.Metrics
	level   zap.AtomicLevel
	log     *zap.Logger
	sess    *session
	api     *apiServer // nil without a socket sink
}

// apiServer is a local API server (sink "socket") being served.
type apiServer struct {
	srv    *localapi.Server
	cancel context.CancelFunc
	done   chan error // Serve's result
}

// serveAPI serves srv, which is listening already, until ctx ends or stop.
func serveAPI(ctx context.Context, srv *localapi.Server) *apiServer {
	ctx, cancel := context.WithCancel(ctx)
	a := &apiServer{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- srv.Serve(ctx) }()
	return a
}

// stop ends the server: its connections close and its socket file goes.
// Call it once, and not after its result was taken from done.
func (a *apiServer) stop() {
	a.cancel()
	<-a.done
}

// apiDone is the serving server's result channel; nil (never ready) when
// there is none.
func (d *agentDaemon) apiDone() <-chan error {
	if d.api == nil {
		return nil
	}
	return d.api.done
}

func (d *agentDaemon) socketOptions(sc *config.SocketSink) localapi.Options {
	return localapi.Options{Path: sc.Path, Mode: sc.Mode, GID: sc.GID, AllowUIDs: sc.AllowUIDs, AllowGIDs: sc.AllowGIDs,
		Version: version, Sinks: d.fan.Statuses, Metrics: d.metrics}
}

// checkedSinks builds the configured file sinks, adds the socket (if any),
// and proves each can write.
func checkedSinks(cfg *config.Config, sock *localapi.Server, log *zap.Logger, stderr io.Writer) ([]sink.Sink, int) {
	sinks, err := buildSinks(cfg, log)
	if sock != nil {
		sinks = append(sinks, sock)
	}
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent:", err)
		return nil, exitUsage
	}
	for _, s := range sinks {
		if err := s.Check(); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return nil, exitSink
		}
	}
	return sinks, exitOK
}

// reload re-reads and checks the whole configuration, as startup does. On
// any error it keeps the running one. The sinks, the local API's settings
// and the log level change in place; a change to the vault or auth
// settings starts a new session (a new login).
//
// The socket: a change of mode, group, allow_uids or allow_gids applies to
// the running server at once, and the connections of callers no longer
// allowed are closed (long-polls included); a new path starts a server
// there and stops the old one, whose callers reconnect; a removed sink
// "socket" stops it. Steps that can fail run first, and are undone when a
// later one fails.
func (d *agentDaemon) reload(ctx context.Context) {
	log := d.log
	keep := func(why string, err error) {
		log.Error("reload failed, keeping the running configuration: "+why, zap.Error(err))
	}
	cfg, err := loadConfig(d.o)
	if err != nil {
		keep("the configuration is invalid", err)
		return
	}
	newLevel, err := zap.ParseAtomicLevel(cfg.Log.Level)
	if err != nil {
		keep("log level", err)
		return
	}
	sinks, err := buildSinks(cfg, log)
	if err == nil {
		for _, s := range sinks {
			if err = s.Check(); err != nil {
				break
			}
		}
	}
	if err != nil {
		keep("a sink cannot be written", err)
		return
	}
	if cfg.Log.Format != d.sess.cfg.Log.Format {
		log.Warn("log format changes take effect on restart")
	}

	sock, undo, err := d.prepareSocket(cfg.Socket)
	if err != nil {
		keep("sink \"socket\" cannot change", err)
		return
	}
	old := d.sess.cfg
	if cfg.Vault != old.Vault || cfg.Auth != old.Auth || cfg.Lifecycle.MinBackoff != old.Lifecycle.MinBackoff || cfg.Lifecycle.MaxBackoff != old.Lifecycle.MaxBackoff {
		next, err := startSession(ctx, cfg, d.fan, d.obs, log)
		if err != nil {
			undo()
			keep("cannot start the new login", err)
			return
		}
		d.sess.stop()
		d.sess = next
		log.Info("reloaded: vault or auth settings changed, logging in again", zap.String("role", cfg.Auth.Role))
	} else {
		d.sess.cfg = cfg
		log.Info("reloaded")
	}
	if d.api != nil && d.api.srv != sock {
		d.obs.setSock(nil)
		d.api.stop()
		d.api = nil
	}
	if sock != nil && d.api == nil {
		d.api = serveAPI(ctx, sock)
		d.obs.setSock(sock)
	}
	if d.api != nil {
		sinks = append(sinks, d.api.srv)
	}
	d.fan.Set(ctx, sinks)
	d.level.SetLevel(newLevel.Level())
}

// prepareSocket applies the sink "socket" of a reloaded configuration (nil:
// none) as far as it can be undone: the running server is reconfigured in
// place, or a server for a new path is made, checked and listening, not yet
// serving. It returns the server the daemon is to serve (nil: none), and
// undo, which restores the running server's settings or closes the new one.
func (d *agentDaemon) prepareSocket(sc *config.SocketSink) (*localapi.Server, func(), error) {
	if sc == nil {
		return nil, func() {}, nil
	}
	if cur := d.api; cur != nil && cur.srv.Path() == sc.Path {
		if err := cur.srv.Reconfigure(d.socketOptions(sc)); err != nil {
			return nil, nil, err
		}
		prev := d.sess.cfg.Socket
		return cur.srv, func() {
			if err := cur.srv.Reconfigure(d.socketOptions(prev)); err != nil {
				d.log.Error("could not restore the socket's previous settings", zap.Error(err))
			}
		}, nil
	}
	srv, err := localapi.New(d.socketOptions(sc), d.log.Named("sink.socket"))
	if err == nil {
		err = srv.Check()
	}
	if err == nil {
		err = srv.Listen()
	}
	if err != nil {
		return nil, nil, err
	}
	return srv, srv.Close, nil
}

// shutdown stops the lifecycle, then applies revoke_on_exit and
// remove_sinks_on_exit. The last good token otherwise stays in the sinks
// (tokens outlive a restart: RuntimeDirectoryPreserve=restart).
func shutdown(notify *daemon.Notifier, sess *session, fan *sink.Fanout, log *zap.Logger) int {
	notify.Stopping()
	sess.stop()
	fan.Close()
	lc := sess.cfg.Lifecycle
	if tok, ok := sess.loop.Current(); ok && lc.RevokeOnExit {
		ctx, cancel := context.WithTimeout(context.Background(), exitGrace)
		if err := sess.tokens.RevokeSelf(ctx, tok.Token); err != nil {
			log.Warn("revoke on exit failed", zap.String("accessor", tok.Accessor), zap.Error(err))
		} else {
			log.Info("token revoked on exit", zap.String("accessor", tok.Accessor))
		}
		cancel()
	}
	if lc.RemoveSinksOnExit {
		for _, s := range fan.Sinks() {
			if r, ok := s.(interface{ Remove() error }); ok {
				if err := r.Remove(); err != nil {
					log.Warn("remove sink on exit failed", zap.String("sink", s.Name()), zap.Error(err))
				}
			}
		}
	}
	log.Info("stopped")
	return exitOK
}
