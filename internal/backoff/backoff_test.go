package backoff

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		b    Backoff
		rnd  float64
		want string // waits, compared to the millisecond
	}{
		{"defaults, no jitter: 85 % of the time spent plus Min", Backoff{}, 0,
			"1s 1.7s 3.145s 5.818s 10.764s 19.913s 36.839s 1m8.152s 2m6.081s 3m53.251s 5m0s 5m0s"},
		{"defaults, full jitter takes 35 % off", Backoff{}, 1,
			"650ms 912ms 1.415s 2.197s 3.411s 5.296s 8.222s 12.765s 19.817s 30.766s 47.764s 1m14.154s 1m55.123s 2m58.729s 3m15s 3m15s"},
		{"half jitter", Backoff{Min: 4 * s, Max: 20 * s}, 0.5,
			"3.3s 5.119s 8.709s 14.816s 16.5s 16.5s"},
		{"cap below the next step", Backoff{Min: 3 * s, Max: 10 * s}, 0,
			"3s 5.1s 9.435s 10s 10s"},
		{"min above max uses max", Backoff{Min: time.Minute, Max: 10 * s}, 0,
			"10s 10s"},
		{"rnd out of range is clamped", Backoff{Min: s, Max: 4 * s}, -3,
			"1s 1.7s 3.145s 4s"},
		{"rnd NaN counts as 0", Backoff{Min: s, Max: 4 * s}, math.NaN(),
			"1s 1.7s 3.145s 4s"},
		{"rnd above 1 counts as 1", Backoff{Min: s, Max: 4 * s}, 7,
			"650ms 912ms 1.415s 2.197s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			var got, want []time.Duration
			for _, f := range strings.Fields(tt.want) {
				d, err := time.ParseDuration(f)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, d)
				got = append(got, b.Next(tt.rnd).Round(time.Millisecond))
			}
			if !slices.Equal(got, want) {
				t.Errorf("waits = %v\nwant    %v", got, want)
			}
		})
	}
}

// TestBackoffRecoveryBound: whatever the jitter draws, when attempts fail
// until some moment T (Vault's return) and the first one after it
// succeeds, that one comes no later than Growth·(T+Min) after T
// (and never later than Max): the waits are drawn from the time already
// spent failing. Also the number of attempts in a 10-minute outage.
func TestBackoffRecoveryBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const lo, hi = time.Second, 5 * time.Minute
	mostIn10m := 0
	for run := range 5000 {
		b := Backoff{Min: lo, Max: hi}
		draw := r.Float64
		switch run % 3 { // also the extremes: always the longest, always the shortest waits
		case 1:
			draw = func() float64 { return 0 }
		case 2:
			draw = func() float64 { return 0.9999 }
		}
		var attempts []time.Duration // since the first failure
		at := time.Duration(0)
		for at < 20*time.Minute {
			attempts = append(attempts, at)
			at += b.Next(draw())
		}
		attempts = append(attempts, at)
		n := 0
		for _, a := range attempts {
			if a < 10*time.Minute {
				n++
			}
		}
		mostIn10m = max(mostIn10m, n)
		for back := time.Duration(0); back < 20*time.Minute; back += 250 * time.Millisecond {
			i, _ := slices.BinarySearch(attempts, back)
			bound := min(max(lo, time.Duration(Growth*float64(back+lo))), hi)
			if late := attempts[i] - back; late > bound {
				t.Fatalf("run %d: Vault back after %v, next attempt %v later, want <= %v", run, back, late, bound)
			}
		}
	}
	if mostIn10m > 15 {
		t.Errorf("up to %d attempts in a 10-minute outage, want <= 15", mostIn10m)
	}
	t.Logf("at most %d attempts in a 10-minute outage", mostIn10m)
}

func TestBackoffBoundsAndReset(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for i := range 200 {
		rnd := float64(i%10) / 10
		d := b.Next(rnd)
		if d > time.Minute || d < time.Second*65/100 {
			t.Fatalf("attempt %d: wait %v outside [0.65s, 1m]", i, d)
		}
	}
	if d := b.Next(0); d != time.Minute {
		t.Fatalf("after 200 failures the wait is %v, want the cap 1m", d)
	}
	b.Reset()
	if d := b.Next(0); d != time.Second {
		t.Fatalf("after Reset the wait is %v, want Min 1s", d)
	}
	if d := b.Next(0); d != 1700*time.Millisecond {
		t.Fatalf("second wait after Reset is %v, want 1.7s", d)
	}
}

// FuzzBackoff: whatever the bounds and the random number, every wait is
// positive, never above Max, and never below (1-Jitter)·Min (a
// microsecond allows for float rounding of steps near the largest
// Duration).
func FuzzBackoff(f *testing.F) {
	f.Add(int64(0), int64(0), uint8(20), 0.5)
	f.Add(int64(time.Second), int64(time.Minute), uint8(10), 0.0)
	f.Add(int64(time.Minute), int64(time.Second), uint8(3), 0.999)
	f.Add(int64(1), int64(3), uint8(5), -7.0)
	f.Add(int64(1<<62+1023), int64(1<<62+1023), uint8(2), 1.0) // float64 rounds the step up
	f.Fuzz(func(t *testing.T, lo, hi int64, steps uint8, rnd float64) {
		b := Backoff{Min: time.Duration(lo), Max: time.Duration(hi)}
		effLo, effHi := b.bounds()
		for i := range int(steps) {
			w := b.Next(rnd)
			if floor := time.Duration((1-Jitter)*float64(effLo)) - time.Microsecond; w <= 0 || w > effHi || w < floor {
				t.Fatalf("Backoff{%v, %v} step %d, rnd %v: wait %v, want within [%v, %v]", b.Min, b.Max, i, rnd, w, floor, effHi)
			}
		}
	})
}

// Wait draws from Rand and starts After's timer for the wait it returns.
func TestWaitUsesTheInjectedTimer(t *testing.T) {
	var started []time.Duration
	fired := make(chan time.Time)
	b := Backoff{Min: time.Second, Max: time.Minute, Rand: func() float64 { return 1 },
		After: func(d time.Duration) <-chan time.Time { started = append(started, d); return fired }}
	d, c := b.Wait()
	if d != 650*time.Millisecond || c != (<-chan time.Time)(fired) || !slices.Equal(started, []time.Duration{d}) {
		t.Fatalf("Wait = %v, timers %v; want 650ms (full jitter off 1s) on the injected timer", d, started)
	}
}
