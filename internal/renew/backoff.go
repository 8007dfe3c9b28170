package renew

import "time"

// Default backoff bounds, the same as Vault Agent's min_backoff and
// max_backoff so operators meet familiar numbers.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// The shape of the backoff; see Backoff.
const (
	// BackoffGrowth is how much of the time already spent failing the next
	// wait may take. Below 1, an agent whose last attempt fell just before
	// Vault's return tries again within BackoffGrowth of the outage.
	BackoffGrowth = 0.85

	// BackoffJitter is the largest fraction the jitter takes off a wait.
	BackoffJitter = 0.35
)

// Backoff spaces out retries after failures. The zero value uses the
// defaults (1 s to 5 min).
//
// Each wait is drawn from the time the failures have lasted so far, not
// from a count of them. With s the sum of the waits since the last Reset:
//
//	d    = BackoffGrowth·(s + Min), clamped to [Min, Max]
//	wait = d - rnd·BackoffJitter·d, with rnd in [0, 1)
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

	spent float64 // nanoseconds: the sum of the waits since the last Reset (a float never overflows)
}

// Next returns the wait before the next attempt and advances the sequence.
// rnd is a random number in [0, 1); values outside are clamped.
func (b *Backoff) Next(rnd float64) time.Duration {
	lo, hi := b.bounds()
	d := hi
	if f := BackoffGrowth * (b.spent + float64(lo)); f < float64(hi) {
		d = min(max(time.Duration(f), lo), hi)
	}
	rnd = unit(rnd)
	w := d - time.Duration(rnd*BackoffJitter*float64(d))
	b.spent += float64(w)
	return w
}

// Reset starts the sequence again from Min; call it after a success.
func (b *Backoff) Reset() { b.spent = 0 }

func (b *Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	return min(lo, hi), hi
}

// unit clamps a random draw to [0, 1]; NaN counts as 0 (min and max would
// pass it through).
func unit(rnd float64) float64 {
	if !(rnd >= 0) {
		return 0
	}
	return min(rnd, 1)
}
