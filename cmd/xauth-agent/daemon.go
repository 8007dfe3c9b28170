package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"reflect"
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
	sock    *localapi.Server  // nil without a socket sink
	metrics *localapi.Metrics // nil-safe
	mu      sync.Mutex
	tok     sink.Token
	have    bool
	last    renew.Action // the step the previous Waiting scheduled
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
	if o.sock != nil {
		o.sock.Renewed(t) // renewals keep the token string, so they bypass the sinks
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
	if o.sock != nil {
		o.sock.SetState(state, err, d.At)
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

	if cfg.Socket != nil {
		sc := cfg.Socket
		sock, err := localapi.New(localapi.Options{Path: sc.Path, Mode: sc.Mode, Group: sc.Group,
			AllowUIDs: sc.AllowUIDs, AllowGIDs: sc.AllowGIDs, Version: version,
			Sinks: fan.Statuses, Metrics: metrics}, log.Named("sink.socket"))
		if err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return exitUsage
		}
		obs.sock = sock
	}
	sinks, code := checkedSinks(cfg, obs.sock, log, stderr)
	if code != exitOK {
		return code
	}
	serveDone := make(chan error, 1)
	if obs.sock != nil {
		if err := obs.sock.Listen(); err != nil {
			fmt.Fprintln(stderr, "xauth-agent:", err)
			return exitSink
		}
		go func() { serveDone <- obs.sock.Serve(ctx) }()
	} else {
		close(serveDone)
	}
	fan.Set(ctx, sinks)
	sess, err := startSession(ctx, cfg, fan, obs, log)
	if err != nil {
		return fail(stderr, err)
	}
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
			code := shutdown(notify, sess, fan, log)
			if serveDone != nil {
				<-serveDone // the socket file is gone before we exit
			}
			return code
		case err, ok := <-serveDone:
			if ok && err != nil {
				fmt.Fprintln(stderr, "xauth-agent: local API socket:", err)
				return exitSink
			}
			serveDone = nil
		case err := <-sess.done:
			fmt.Fprintln(stderr, "xauth-agent: lifecycle stopped:", err)
			return exitRuntime
		case <-watchdog:
			notify.Watchdog()
		case <-hup:
			notify.Reloading()
			sess = reload(ctx, o, sess, fan, obs, level, log)
			notify.Ready(obs.status("renewing"))
		}
	}
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

// reload re-reads and validates the whole configuration. On any error it
// keeps the running one. Sinks and the log level are swapped in place; a
// change to the vault or auth settings starts a new session (a new login).
func reload(ctx context.Context, o *options, sess *session, fan *sink.Fanout, obs *observer, level zap.AtomicLevel, log *zap.Logger) *session {
	keep := func(why string, err error) *session {
		log.Error("reload failed, keeping the running configuration: "+why, zap.Error(err))
		return sess
	}
	cfg, err := config.Load(o.configPath, os.LookupEnv, o.overrides)
	if err != nil {
		return keep("the configuration is invalid", err)
	}
	newLevel, err := zap.ParseAtomicLevel(cfg.Log.Level)
	if err != nil {
		return keep("log level", err)
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
		return keep("a sink cannot be written", err)
	}
	if cfg.Log.Format != sess.cfg.Log.Format {
		log.Warn("log format changes take effect on restart")
	}
	if !reflect.DeepEqual(cfg.Socket, sess.cfg.Socket) {
		log.Warn("sink \"socket\" changes take effect on restart; the running socket stays as it is")
	}
	if obs.sock != nil {
		sinks = append(sinks, obs.sock) // the same server: its socket is already live
	}
	if cfg.Vault != sess.cfg.Vault || cfg.Auth != sess.cfg.Auth || cfg.Lifecycle.MinBackoff != sess.cfg.Lifecycle.MinBackoff || cfg.Lifecycle.MaxBackoff != sess.cfg.Lifecycle.MaxBackoff {
		next, err := startSession(ctx, cfg, fan, obs, log)
		if err != nil {
			return keep("cannot start the new login", err)
		}
		sess.stop()
		sess = next
		log.Info("reloaded: vault or auth settings changed, logging in again", zap.String("role", cfg.Auth.Role))
	} else {
		sess.cfg = cfg
		log.Info("reloaded")
	}
	fan.Set(ctx, sinks)
	level.SetLevel(newLevel.Level())
	return sess
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
