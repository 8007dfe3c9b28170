package sink

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/xauth-agent/xauth-agent/internal/backoff"
	"github.com/xauth-agent/xauth-agent/internal/token"
)

// Status is what a sink last did, for logs and the status API.
type Status struct {
	Name       string
	Generation uint64 // generation of the token last written; 0 = none yet
	LastWrite  time.Time
	LastError  string // "" after a success
}

// Fanout writes each new token of a token.Latest (each generation) to
// every sink. Each sink has its own goroutine, so a failing sink retries
// on its own schedule and never holds the others; a newer token replaces
// one still waiting to be written.
type Fanout struct {
	log   *zap.Logger
	state *token.Latest
	retry backoff.Backoff                 // each sink's retries, from a copy of its own
	onAll func(gen uint64, t token.Token) // called once per generation when every sink holds it

	// WriteFailed, when set before Set, is told each failed write (metrics).
	WriteFailed func(sink string)

	mu      sync.Mutex
	allGen  uint64
	outlets []*outlet
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

type outlet struct {
	sink    Sink
	status  Status
	backoff backoff.Backoff
}

// NewFanout returns a fan-out of state's tokens with no sinks yet. Each
// sink retries a failed write with a copy of retry; onAll may be nil.
func NewFanout(log *zap.Logger, state *token.Latest, retry backoff.Backoff, onAll func(gen uint64, t token.Token)) *Fanout {
	if log == nil {
		log = zap.NewNop()
	}
	return &Fanout{log: log, state: state, retry: retry, onAll: onAll}
}

// Set replaces the sinks (on start and on reload). The new sinks receive
// the current token, if there is one, at once.
func (f *Fanout) Set(ctx context.Context, sinks []Sink) {
	f.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, f.stop = context.WithCancel(ctx)
	f.outlets = nil
	f.allGen = 0
	for _, s := range sinks {
		o := &outlet{sink: s, status: Status{Name: s.Name()}, backoff: f.retry}
		f.outlets = append(f.outlets, o)
		f.wg.Go(func() { f.deliver(ctx, o) })
	}
	f.wg.Go(func() { f.watch(ctx) })
}

// Statuses reports each sink's last write.
func (f *Fanout) Statuses() []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Status, len(f.outlets))
	for i, o := range f.outlets {
		out[i] = o.status
	}
	return out
}

// Sinks returns the current sinks.
func (f *Fanout) Sinks() []Sink {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Sink, len(f.outlets))
	for i, o := range f.outlets {
		out[i] = o.sink
	}
	return out
}

// Close stops the delivery goroutines and waits for them.
func (f *Fanout) Close() {
	f.mu.Lock()
	stop := f.stop
	f.mu.Unlock()
	if stop != nil {
		stop()
	}
	f.wg.Wait()
}

// deliver is one sink's goroutine: write each new generation, and on
// failure retry after a growing wait unless a newer one arrives first.
func (f *Fanout) deliver(ctx context.Context, o *outlet) {
	var (
		retry  <-chan time.Time // while a failed write waits for its retry
		failed uint64           // the generation that failed
	)
	for ctx.Err() == nil {
		st, changed := f.state.Load()
		f.mu.Lock()
		due := st.Generation != 0 && st.Generation != o.status.Generation && (retry == nil || st.Generation != failed)
		f.mu.Unlock()
		if !due {
			select {
			case <-ctx.Done():
			case <-changed:
			case <-retry:
				retry = nil
			}
			continue
		}
		retry = nil
		err := o.sink.Write(ctx, st.Token)
		f.mu.Lock()
		if err != nil {
			o.status.LastError = err.Error()
			f.mu.Unlock()
			if f.WriteFailed != nil {
				f.WriteFailed(o.sink.Name())
			}
			var wait time.Duration
			failed = st.Generation
			wait, retry = o.backoff.Wait()
			f.log.Warn("sink write failed, retrying", zap.String("sink", o.sink.Name()), zap.Error(err), zap.Duration("wait", wait))
			continue
		}
		o.backoff.Reset()
		o.status = Status{Name: o.status.Name, Generation: st.Generation, LastWrite: time.Now()}
		f.allDone(st)
		f.mu.Unlock()
	}
}

// watch calls onAll for a generation no sink has to write: with no sinks.
func (f *Fanout) watch(ctx context.Context) {
	for {
		st, changed := f.state.Load()
		f.mu.Lock()
		f.allDone(st)
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// allDone calls onAll when every sink holds st's generation. The caller
// holds f.mu.
func (f *Fanout) allDone(st token.State) {
	if st.Generation == 0 || f.allGen == st.Generation {
		return
	}
	for _, o := range f.outlets {
		if o.status.Generation != st.Generation {
			return
		}
	}
	f.allGen = st.Generation
	if f.onAll != nil {
		f.onAll(st.Generation, st.Token)
	}
}
