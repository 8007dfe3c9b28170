package main

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/hook"
	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/token"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

// fileSinks builds the file sinks of a configuration, with what they need
// from the command that runs them: the Vault client wrap_ttl wraps through
// (the current session's) and the on_change runners.
type fileSinks struct {
	ctx    context.Context            // ends the on_change runs
	client atomic.Pointer[api.Client] // the client of the current login, for wrap_ttl
	ran    func(result string)        // told each on_change result (metrics); nil: not counted
	log    *zap.Logger
	inUse  []builtSink // the sinks being written (use), kept across reloads
}

// builtSink is a file sink and the configuration it was built from.
type builtSink struct {
	cfg    config.FileSink
	file   *sink.File
	runner *hook.Runner       // nil without on_change
	stop   context.CancelFunc // ends the runner's runs; nil without on_change
}

func newFileSinks(ctx context.Context, log *zap.Logger, ran func(string)) *fileSinks {
	return &fileSinks{ctx: ctx, log: log, ran: ran}
}

// checked builds the file sinks of cfg and proves each can write. A sink
// whose settings are those of a sink in use is that sink, so that a reload
// neither rewrites its file nor runs its on_change again. Its error is of
// the kind failure.Sink.
func (fs *fileSinks) checked(cfg *config.Config) ([]builtSink, error) {
	var built []builtSink
	for _, c := range cfg.Sinks {
		if i := slices.IndexFunc(fs.inUse, func(b builtSink) bool { return reflect.DeepEqual(b.cfg, c) }); i >= 0 {
			built = append(built, fs.inUse[i])
		} else {
			built = append(built, fs.build(c))
		}
	}
	for _, b := range built {
		if err := b.file.Check(); err != nil {
			return nil, failure.Mark(failure.Sink, err)
		}
	}
	return built, nil
}

// use makes built the sinks in use, and returns them for the fan-out. The
// on_change runs of a sink no longer in use end: a pending one does not
// start, a running one is killed.
func (fs *fileSinks) use(built []builtSink) []sink.Sink {
	for _, old := range fs.inUse {
		if old.stop != nil && !slices.ContainsFunc(built, func(b builtSink) bool { return b.runner == old.runner }) {
			old.stop()
		}
	}
	fs.inUse = built
	sinks := make([]sink.Sink, len(built))
	for i, b := range built {
		sinks[i] = b.file
	}
	return sinks
}

// checkedSinks is checked and use at once, for a configuration that is not
// reloaded (--once, exec).
func (fs *fileSinks) checkedSinks(cfg *config.Config) ([]sink.Sink, error) {
	built, err := fs.checked(cfg)
	if err != nil {
		return nil, err
	}
	return fs.use(built), nil
}

func (fs *fileSinks) build(c config.FileSink) builtSink {
	b := builtSink{cfg: c}
	o := sink.FileOptions{Path: c.Path, Mode: c.Mode, UID: c.UID, GID: c.GID, Format: c.Format, WrapTTL: c.WrapTTL, Wrap: fs.wrap}
	if len(c.OnChange) > 0 {
		var ctx context.Context
		ctx, b.stop = context.WithCancel(fs.ctx)
		b.runner = hook.New(ctx, hook.Options{Argv: c.OnChange, Path: c.Path, Splay: c.OnChangeSplay, Timeout: c.OnChangeTimeout, Done: fs.ran,
			Output: os.Stderr},
			fs.log.Named("hook"))
		o.OnChange = b.runner.Trigger
	}
	b.file = sink.NewFile(o, fs.log.Named("sink.file"))
	return b
}

// wrap makes a wrapping token of t through the current login's client.
func (fs *fileSinks) wrap(ctx context.Context, t token.Token, ttl time.Duration) (*api.SecretWrapInfo, error) {
	c := fs.client.Load()
	if c == nil {
		return nil, errors.New("no vault client yet")
	}
	return vault.Wrap(ctx, c, t.Token, ttl)
}

// wait returns when no on_change run of the current sinks is pending or
// running.
func (fs *fileSinks) wait() {
	for _, b := range fs.inUse {
		if b.runner != nil {
			b.runner.Wait()
		}
	}
}
