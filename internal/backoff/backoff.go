// Package backoff spaces out retries after failures: the renew loop's
// attempts to log in or renew, and each sink's attempts to write.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Default bounds, the same as Vault Agent's min_backoff and max_backoff so
// operators meet familiar numbers.
const (
	DefaultMin = time.Second
	DefaultMax = 5 * time.Minute
)

// The shape of the backoff; see Backoff.
const (
	// Growth is how much of the time already spent failing the next wait
	// may take. Below 1, an agent whose last attempt fell just before
	// Vault's return tries again within Growth of the outage.
	Growth = 0.85

	// Jitter is the largest fraction the jitter takes off a wait.
	Jitter = 0.35
)

// Backoff spaces out retries after failures. The zero value uses the
// defaults (1 s to 5 min).
//
// Each wait is drawn from the time the failures have lasted so far, not
// from a count of them. With s the sum of the waits since the last Reset:
//
//	d    = Growth·(s + Min), clamped to [Min, Max]
//	wait = d - rnd·Jitter·d, with rnd in [0, 1)
//
// So the time since the first failure grows by a factor of 1.55 to 1.85
// per attempt: exponential backoff (1 s, 1.7 s, 3.1 s, 5.8 s, … up to
// Max without jitter), about a dozen attempts in a 10-minute outage. And
// because no wait exceeds 85 % of the outage seen so far (plus Min), an
// agent tries again within that of Vault's return: after a 60 s outage,
// every agent of a fleet within 52 s, their attempts spread by the jitter
// and by when each one started failing. A wait never exceeds Max (the
// number the operator configured is a true ceiling) and is never below
// 65 % of Min.
type Backoff struct {
	Min, Max time.Duration

	// Rand draws Wait's jitter, in [0, 1); nil is math/rand/v2.
	Rand func() float64
	// After is Wait's timer; nil is time.After.
	After func(time.Duration) <-chan time.Time

	spent float64 // nanoseconds: the sum of the waits since the last Reset (a float never overflows)
}

// Next returns the wait before the next attempt and advances the sequence.
// rnd is a random number in [0, 1); values outside are clamped.
func (b *Backoff) Next(rnd float64) time.Duration {
	lo, hi := b.bounds()
	d := hi
	if f := Growth * (b.spent + float64(lo)); f < float64(hi) {
		d = min(max(time.Duration(f), lo), hi)
	}
	rnd = Unit(rnd)
	w := d - time.Duration(rnd*Jitter*float64(d))
	b.spent += float64(w)
	return w
}

// Wait draws the next wait (Next, with a draw of Rand) and starts it: the
// channel receives when it is over.
func (b *Backoff) Wait() (time.Duration, <-chan time.Time) {
	draw, after := rand.Float64, time.After
	if b.Rand != nil {
		draw = b.Rand
	}
	if b.After != nil {
		after = b.After
	}
	d := b.Next(draw())
	return d, after(d)
}

// Reset starts the sequence again from Min; call it after a success.
func (b *Backoff) Reset() { b.spent = 0 }

func (b *Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	return min(lo, hi), hi
}

// Unit clamps a random draw to [0, 1]; NaN counts as 0 (min and max would
// pass it through).
func Unit(rnd float64) float64 {
	if !(rnd >= 0) {
		return 0
	}
	return min(rnd, 1)
}
