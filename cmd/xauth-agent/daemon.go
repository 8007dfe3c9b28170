package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/daemon"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/hook"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
	"github.com/xauth-agent/xauth-agent/internal/renew"
	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/state"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// exitGrace bounds what shutdown may spend on revoke_on_exit.
const exitGrace = 3 * time.Second

// sinkRetry spaces out the retries of a sink that fails to write.
var sinkRetry = backoff.Backoff{Min: time.Second, Max: time.Minute}

// loginFunc builds the Vault client and the login of a configuration:
// newLogin; tests log in to a fake Vault.
type loginFunc func(ctx context.Context, cfg *config.Config, log *zap.Logger) (*api.Client, renew.Authenticator, error)

// session is one login identity: a Vault client, the login, and the
// lifecycle loop that keeps its token fresh in the daemon's token.Latest.
// A reload that changes the vault or auth settings replaces the session
// (and so logs in again).
type session struct {
	cfg         *config.Config
	fingerprint string // of cfg's login (state.Fingerprint), kept with its tokens
	loop        *renew.Loop
	client      *api.Client // the login's, for wrap_ttl
	tokens      renew.TokenAPI
	vault       *vault.Selector // where its requests go: the state of each Vault address
	cancel      context.CancelFunc
	done        chan struct{} // closed when the loop has returned, with err
	err         error
}

// newSession builds the login of cfg and its loop, which writes to latest;
// start runs it.
func newSession(ctx context.Context, cfg *config.Config, latest *token.Latest, login loginFunc, log *zap.Logger) (*session, error) {
	vc, auth, err := login(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, fingerprint: state.Fingerprint(cfg.Vault, cfg.Auth), client: vc, tokens: renew.NewTokenAPI(vc),
		vault: vault.SelectorOf(vc), done: make(chan struct{})}
	s.loop = &renew.Loop{
		Auth:    auth,
		Tokens:  s.tokens,
		State:   latest,
		Backoff: backoff.Backoff{Min: cfg.Lifecycle.MinBackoff, Max: cfg.Lifecycle.MaxBackoff},
		Log:     log.Named("renew"),
	}
	return s, nil
}

func (s *session) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	go func() {
		s.err = s.loop.Run(ctx)
		close(s.done)
	}()
}

func (s *session) stop() {
	s.cancel()
	<-s.done
}

// ended is closed when the loop has returned; nil for no session.
func (s *session) ended() <-chan struct{} {
	if s == nil {
		return nil
	}
	return s.done
}

// notifier is what the daemon tells the service manager
// (*daemon.Notifier); tests record it.
type notifier interface {
	Ready(status string)
	Status(status string)
	Reloading()
	Stopping()
	WatchdogInterval() time.Duration
	Watchdog()
}

// agentDaemon keeps a fresh token in every sink. Its token.Latest is the
// one delivery path: the session's loop writes it, and the file fan-out,
// the local API, the metrics and sd_notify's STATUS= read it.
type agentDaemon struct {
	o      *options
	login  loginFunc
	notify notifier
	hup    <-chan os.Signal // reload
	usr1   <-chan os.Signal // renew now
	env    func(string) (string, bool)
	level  zap.AtomicLevel
	log    *zap.Logger

	record *state.Store // the token record; nil when none is kept
	kept   string       // the token the record holds

	state   *token.Latest
	fan     *sink.Fanout
	files   *fileSinks
	metrics *localapi.Metrics
	sess    *session
	api     *apiServer                     // nil without a socket sink
	health  *served                        // the health listener; nil without a health block
	running atomic.Pointer[session]        // the session, for /v1/livez
	vault   atomic.Pointer[vault.Selector] // the session's, for the local API's /v1/status
	ready   sync.Once
}

// runDaemon keeps a fresh token in every sink until ctx ends (SIGTERM,
// SIGINT). SIGHUP re-reads the configuration; SIGUSR1 renews the token now.
func runDaemon(ctx context.Context, o *options, cfg *config.Config, level zap.AtomicLevel, log *zap.Logger) error {
	hup, usr1 := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(hup)
	defer signal.Stop(usr1)
	d := &agentDaemon{o: o, login: newLogin, notify: daemon.NewNotifier(log.Named("systemd")), hup: hup, usr1: usr1,
		env: os.LookupEnv, level: level, log: log}
	return d.run(ctx, cfg)
}

// run is the daemon from its start to its stop.
func (d *agentDaemon) run(ctx context.Context, cfg *config.Config) error {
	stateDir, runtimeDir := cfg.Lifecycle.Dirs(d.env)
	lock, err := state.TakeLock(stateDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	d.openRecord(runtimeDir)
	d.state = token.NewLatest()
	d.metrics = localapi.NewMetrics(version, d.state)
	d.metrics.OnChangeResults(hook.Results...)
	d.files = newFileSinks(ctx, d.log, d.metrics.OnChangeRan)
	defer d.files.wait() // after the fan-out has stopped: no run starts any more
	d.fan = sink.NewFanout(d.log.Named("sink"), d.state, sinkRetry, d.inEverySink)
	d.fan.WriteFailed = d.metrics.SinkError
	defer d.fan.Close()
	defer func() { // on any way out: no socket file is left behind, no port held
		if d.api != nil {
			d.api.stop()
		}
		if d.health != nil {
			d.health.stop()
		}
	}()

	built, err := d.files.checked(cfg)
	if err != nil {
		return err
	}
	sinks := d.files.use(built)
	if cfg.Socket != nil {
		sock := localapi.New(d.socketOptions(cfg.Socket), d.log.Named("sink.socket"))
		if err := sock.Check(); err != nil {
			return failure.Mark(failure.Sink, err)
		}
		if err := sock.Listen(); err != nil {
			return failure.Mark(failure.Sink, err)
		}
		d.api = serveAPI(ctx, sock)
	}
	if cfg.Health.Address != "" {
		if d.health, err = d.startHealth(ctx, cfg); err != nil {
			return failure.Mark(failure.Sink, err)
		}
	}
	d.fan.Set(ctx, sinks)
	if d.sess, err = newSession(ctx, cfg, d.state, d.login, d.log); err != nil {
		return err
	}
	d.files.client.Store(d.sess.client)
	d.running.Store(d.sess)
	d.vault.Store(d.sess.vault)
	d.resume()
	// Said before the lifecycle starts, so that its first token cannot be
	// named in a line that says the agent is still logging in.
	d.notify.Status(d.status("logging-in"))
	d.sess.start(ctx)
	count := len(sinks)
	if d.api != nil {
		count++
	}
	d.log.Info("daemon started", zap.String("config", cfg.Source), zap.Int("sinks", count),
		zap.String(fieldStateDir, stateDir), zap.Bool("token_record_kept", d.record != nil))

	var watchdog <-chan time.Time
	if iv := d.notify.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		watchdog = t.C
	}
	_, changed := d.state.Load()
	d.keepToken() // a token that came before this Load is not a change to come
	for {
		select {
		case <-ctx.Done():
			return d.shutdown() // the deferred stop removes the socket file
		case err := <-d.health.result():
			d.health = nil
			if err != nil {
				return failure.Mark(failure.Sink, err)
			}
		case err := <-d.apiDone():
			d.api = nil // its result is taken: nothing to stop
			if err != nil {
				return failure.Mark(failure.Sink, fmt.Errorf("local API socket: %w", err))
			}
		case <-d.sess.done:
			return failure.Mark(failure.Runtime, fmt.Errorf("lifecycle stopped: %w", d.sess.err))
		case <-watchdog:
			d.notify.Watchdog()
		case <-changed:
			var st token.State
			st, changed = d.state.Load()
			d.notify.Status(statusLine(st, st.Step))
			d.keepToken()
		case <-d.usr1:
			d.log.Info("SIGUSR1: renewing the token now")
			d.sess.loop.RenewNow()
		case <-d.hup:
			d.notify.Reloading()
			d.reload(ctx)
			d.notify.Ready(d.status("renewing"))
		}
	}
}

// Log field names of the daemon's state.
const (
	fieldStateDir    = "state_dir"
	fieldRecord      = "token_record"
	fieldFingerprint = "fingerprint"
)

// openRecord opens the token record's store in dir. A dir that is not
// memory (tmpfs, ramfs) keeps none: one warning, and restarts log in.
func (d *agentDaemon) openRecord(dir string) {
	s, err := state.OpenStore(dir)
	if err != nil {
		d.log.Warn("no token record kept: a restart logs in again", zap.Error(err))
		return
	}
	d.record = s
}

// resume hands the session the recorded token when it was logged in with
// the session's settings (same fingerprint); the lifecycle then checks it
// with Vault before taking it over. Otherwise the session logs in.
func (d *agentDaemon) resume() {
	if d.record == nil {
		return
	}
	rec, ok, err := d.record.Load()
	switch {
	case err != nil:
		d.log.Warn("token record unusable: logging in", zap.Error(err))
	case !ok:
		d.log.Info("no token record: logging in", zap.String(fieldRecord, d.record.Path()))
	case rec.Fingerprint != d.sess.fingerprint:
		d.log.Info("token record is for other vault or auth settings: logging in",
			zap.String("record_fingerprint", rec.Fingerprint), zap.String(fieldFingerprint, d.sess.fingerprint))
	default:
		d.log.Info("token record matches the settings: checking its token with vault",
			zap.String("accessor", rec.Accessor), zap.String(fieldFingerprint, rec.Fingerprint))
		d.sess.loop.Resume = &renew.Resume{Token: rec.Token, Accessor: rec.Accessor, LoginPath: "auth/" + d.sess.cfg.Auth.Mount + "/login"}
		d.kept = rec.Token
	}
}

// keepToken writes the session's current token to the record when it is
// a new one. The session's own (not the shared state's) so that a token
// is never kept under another session's fingerprint.
func (d *agentDaemon) keepToken() {
	tok, ok := d.sess.loop.Current()
	if d.record == nil || !ok || tok.Token == d.kept {
		return
	}
	rec := state.Record{Token: tok.Token, Accessor: tok.Accessor, Fingerprint: d.sess.fingerprint}
	if err := d.record.Save(rec); err != nil {
		d.log.Warn("token record not written: a restart logs in again", zap.Error(err))
		return
	}
	d.kept = tok.Token
	d.log.Debug("token record written", zap.String("accessor", tok.Accessor), zap.String(fieldRecord, d.record.Path()))
}

// inEverySink is the fan-out's word that every file sink holds a token:
// READY=1 the first time.
func (d *agentDaemon) inEverySink(gen uint64, t token.Token) {
	d.ready.Do(func() { d.notify.Ready(d.status("renewing")) })
	d.log.Info("token in every sink", zap.Uint64("generation", gen), zap.String("accessor", t.Accessor))
}

// status is the STATUS= line of the current token with step.
func (d *agentDaemon) status(step string) string {
	st, _ := d.state.Load()
	return statusLine(st, step)
}

func statusLine(st token.State, step string) string {
	if st.Generation == 0 {
		return daemon.StatusLine(step, "", 0)
	}
	return daemon.StatusLine(step, st.Token.Accessor, time.Until(st.Token.ExpiresAt))
}

// served is a server being served until its context ends or stop: the
// local API (apiServer) or the health listener.
type served struct {
	cancel context.CancelFunc
	done   chan error // Serve's result
}

// serve runs serve (a server's Serve, listening already) until ctx ends or stop.
func serve(ctx context.Context, serve func(context.Context) error) *served {
	ctx, cancel := context.WithCancel(ctx)
	s := &served{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serve(ctx) }()
	return s
}

// stop ends the server: its connections close (and the socket's file
// goes). Call it once, and not after its result was taken from done.
func (s *served) stop() {
	s.cancel()
	<-s.done
}

// result is the server's result channel; nil (never ready) for no server.
func (s *served) result() <-chan error {
	if s == nil {
		return nil
	}
	return s.done
}

// apiServer is a local API server (sink "socket") being served.
type apiServer struct {
	srv *localapi.Server
	*served
}

// serveAPI serves srv, which is listening already, until ctx ends or stop.
func serveAPI(ctx context.Context, srv *localapi.Server) *apiServer {
	return &apiServer{srv: srv, served: serve(ctx, srv.Serve)}
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
		Version: version, State: d.state, Sinks: d.fan.Statuses, Vault: d.vaultStatus, Metrics: d.metrics, Live: d.lifecycleRuns}
}

// lifecycleRuns reports, for /v1/livez, whether the session's loop runs.
func (d *agentDaemon) lifecycleRuns() bool {
	s := d.running.Load()
	if s == nil {
		return true // starting: checks and listeners come before the loop
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// startHealth listens on cfg's health address and serves the probes and
// the metrics there. A socket that serves the token is listed in readyz.
func (d *agentDaemon) startHealth(ctx context.Context, cfg *config.Config) (*served, error) {
	p := &localapi.Probes{State: d.state, Sinks: d.fan.Statuses, Live: d.lifecycleRuns}
	if cfg.Socket != nil {
		p.Socket = cfg.Socket.Path
	}
	h := localapi.NewHealth(localapi.HealthOptions{Address: cfg.Health.Address, Probes: p, Metrics: d.metrics}, d.log.Named("health"))
	if err := h.Listen(); err != nil {
		return nil, err
	}
	return serve(ctx, h.Serve), nil
}

// reloadHealth applies a reloaded health block: the listener restarts when
// it or the socket changed (readyz lists the socket), and a new address
// that cannot be bound leaves the old listener serving.
func (d *agentDaemon) reloadHealth(ctx context.Context, old, cur *config.Config) {
	if old.Health == cur.Health && reflect.DeepEqual(old.Socket, cur.Socket) && (d.health != nil) == (cur.Health.Address != "") {
		return
	}
	if cur.Health.Address == "" {
		if d.health != nil {
			d.health.stop()
			d.health = nil
		}
		return
	}
	if d.health != nil && old.Health.Address == cur.Health.Address {
		d.health.stop() // the same port: free it first
		d.health = nil
	}
	next, err := d.startHealth(ctx, cur)
	if err != nil {
		d.log.Error("reload: the health listener could not start on the new settings", zap.Error(err))
		return
	}
	if d.health != nil {
		d.health.stop()
	}
	d.health = next
}

// vaultStatus is the state of each Vault address the session uses.
func (d *agentDaemon) vaultStatus() []vault.AddressStatus {
	if s := d.vault.Load(); s != nil {
		return s.Status()
	}
	return nil
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
	built, err := d.files.checked(cfg)
	if err != nil {
		keep("a sink cannot be written", err)
		return
	}
	if cfg.Log.Format != d.sess.cfg.Log.Format {
		log.Warn("log format changes take effect on restart")
	}
	if cfg.Lifecycle.StateDir != d.sess.cfg.Lifecycle.StateDir || cfg.Lifecycle.RuntimeDir != d.sess.cfg.Lifecycle.RuntimeDir {
		log.Warn("state_dir and runtime_dir changes take effect on restart")
	}

	sock, undo, err := d.prepareSocket(cfg.Socket)
	if err != nil {
		keep("sink \"socket\" cannot change", err)
		return
	}
	old := d.sess.cfg
	if !reflect.DeepEqual(cfg.Vault, old.Vault) || cfg.Auth != old.Auth || cfg.Lifecycle.MinBackoff != old.Lifecycle.MinBackoff || cfg.Lifecycle.MaxBackoff != old.Lifecycle.MaxBackoff {
		next, err := newSession(ctx, cfg, d.state, d.login, log)
		if err != nil {
			undo()
			keep("cannot start the new login", err)
			return
		}
		d.running.Store(next) // first: livez does not see the old loop's end as the agent's
		d.sess.stop()
		d.files.client.Store(next.client)
		next.start(ctx)
		d.sess = next
		d.vault.Store(next.vault)
		log.Info("reloaded: vault or auth settings changed, logging in again", zap.String("role", cfg.Auth.Role))
	} else {
		d.sess.cfg = cfg
		log.Info("reloaded")
	}
	if d.api != nil && d.api.srv != sock {
		d.api.stop()
		d.api = nil
	}
	if sock != nil && d.api == nil {
		d.api = serveAPI(ctx, sock)
	}
	d.fan.Set(ctx, d.files.use(built))
	d.reloadHealth(ctx, old, cfg)
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
	srv := localapi.New(d.socketOptions(sc), d.log.Named("sink.socket"))
	err := srv.Check()
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
func (d *agentDaemon) shutdown() error {
	log := d.log
	d.notify.Stopping()
	d.sess.stop()
	d.fan.Close()
	lc := d.sess.cfg.Lifecycle
	if tok, ok := d.sess.loop.Current(); ok && lc.RevokeOnExit {
		ctx, cancel := context.WithTimeout(context.Background(), exitGrace)
		if err := d.sess.tokens.RevokeSelf(ctx, tok.Token); err != nil {
			log.Warn("revoke on exit failed", zap.String("accessor", tok.Accessor), zap.Error(err))
		} else {
			log.Info("token revoked on exit", zap.String("accessor", tok.Accessor))
		}
		cancel()
	}
	if lc.RevokeOnExit && d.record != nil {
		if err := d.record.Remove(); err != nil {
			log.Warn("token record not removed on exit", zap.Error(err))
		}
	}
	if lc.RemoveSinksOnExit {
		for _, s := range d.fan.Sinks() {
			if r, ok := s.(interface{ Remove() error }); ok {
				if err := r.Remove(); err != nil {
					log.Warn("remove sink on exit failed", zap.String("sink", s.Name()), zap.Error(err))
				}
			}
		}
	}
	log.Info("stopped")
	return nil
}
