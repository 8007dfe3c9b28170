package renew

import "time"

// Default backoff bounds, the same as Vault Agent's min_backoff and
// max_backoff so operators meet familiar numbers.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Backoff spaces out retries after failures. The zero value uses the
// defaults (1 s to 5 min).
//
// The n-th wait since the last Reset starts from d = Min·2^(n-1), capped
// at Max, and subtracts up to half of it as jitter:
//
//	wait = d - rnd·d/2, with rnd in [0, 1)
//
// so a wait lies in (d/2, d]: never above Max (the number the operator
// configured is a true ceiling), never below half the step,
// and agents started together drift apart.
type Backoff struct {
	Min, Max time.Duration

	n int // failures since the last Reset, counted until the cap is reached
}

// Next returns the wait before the next attempt and advances the sequence.
// rnd is a random number in [0, 1); values outside are clamped.
func (b *Backoff) Next(rnd float64) time.Duration {
	lo, hi := b.bounds()
	d := lo
	for i := 0; i < b.n && d < hi; i++ {
		if d > hi/2 { // doubling would pass hi, or overflow with a Max near 292 years
			d = hi
			break
		}
		d *= 2
	}
	if d >= hi {
		d = hi
	} else {
		b.n++
	}
	rnd = min(max(rnd, 0), 1)
	return d - time.Duration(rnd*float64(d)/2)
}

// Reset starts the sequence again from Min; call it after a success.
func (b *Backoff) Reset() { b.n = 0 }

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
