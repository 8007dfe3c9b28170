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

// Fanout delivers each new token to every sink. Each sink has its own
// goroutine, so a failing sink retries on its own schedule and never holds
// the others; a newer token replaces one still waiting to be written.
type Fanout struct {
	log   *zap.Logger
	retry backoff.Backoff                 // each sink's retries, from a copy of its own
	onAll func(gen uint64, t token.Token) // called once per generation when every sink holds it

	// WriteFailed, when set before Set, is told each failed write (metrics).
	WriteFailed func(sink string)

	mu      sync.Mutex
	gen     uint64
	latest  token.Token
	allGen  uint64
	outlets []*outlet
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

type outlet struct {
	sink    Sink
	wake    chan struct{}
	status  Status
	backoff backoff.Backoff
}

// NewFanout returns a fan-out with no sinks. Each sink retries a failed
// write with a copy of retry; onAll may be nil.
func NewFanout(log *zap.Logger, retry backoff.Backoff, onAll func(gen uint64, t token.Token)) *Fanout {
	if log == nil {
		log = zap.NewNop()
	}
	return &Fanout{log: log, retry: retry, onAll: onAll}
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
		o := &outlet{sink: s, wake: make(chan struct{}, 1), status: Status{Name: s.Name()}, backoff: f.retry}
		f.outlets = append(f.outlets, o)
		f.wg.Add(1)
		go f.deliver(ctx, o)
		if f.gen > 0 {
			o.wake <- struct{}{}
		}
	}
}

// Publish hands a new token to every sink.
func (f *Fanout) Publish(t token.Token) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	f.latest = t
	for _, o := range f.outlets {
		select {
		case o.wake <- struct{}{}:
		default: // already woken; it will read the latest token
		}
	}
	if len(f.outlets) == 0 {
		f.allDone()
	}
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

// deliver is one sink's goroutine: write the latest token, and on failure
// retry after a growing wait unless a newer token arrives first.
func (f *Fanout) deliver(ctx context.Context, o *outlet) {
	defer f.wg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-retry:
		}
		retry = nil
		f.mu.Lock()
		gen, t := f.gen, f.latest
		done := o.status.Generation == gen
		f.mu.Unlock()
		if done || gen == 0 {
			continue
		}
		err := o.sink.Write(ctx, t)
		f.mu.Lock()
		if err != nil {
			o.status.LastError = err.Error()
			f.mu.Unlock()
			if f.WriteFailed != nil {
				f.WriteFailed(o.sink.Name())
			}
			var wait time.Duration
			wait, retry = o.backoff.Wait()
			f.log.Warn("sink write failed, retrying", zap.String("sink", o.sink.Name()), zap.Error(err), zap.Duration("wait", wait))
			continue
		}
		o.backoff.Reset()
		o.status = Status{Name: o.status.Name, Generation: gen, LastWrite: time.Now()}
		f.allDone()
		f.mu.Unlock()
	}
}

// allDone calls onAll when every sink holds the current generation. The
// caller holds f.mu.
func (f *Fanout) allDone() {
	if f.gen == 0 || f.allGen == f.gen {
		return
	}
	for _, o := range f.outlets {
		if o.status.Generation != f.gen {
			return
		}
	}
	f.allGen = f.gen
	if f.onAll != nil {
		f.onAll(f.gen, f.latest)
	}
}
