package renew

import (
	"slices"
	"testing"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		b    Backoff
		rnd  float64
		want []time.Duration
	}{
		{"defaults, no jitter", Backoff{}, 0,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s, 300 * s}},
		{"defaults, full jitter takes half off", Backoff{}, 1,
			[]time.Duration{500 * time.Millisecond, 1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 150 * s, 150 * s}},
		{"half jitter", Backoff{Min: 4 * s, Max: 20 * s}, 0.5,
			[]time.Duration{3 * s, 6 * s, 12 * s, 15 * s, 15 * s}},
		{"cap not a power of two", Backoff{Min: 3 * s, Max: 10 * s}, 0,
			[]time.Duration{3 * s, 6 * s, 10 * s, 10 * s}},
		{"min above max uses max", Backoff{Min: time.Minute, Max: 10 * s}, 0,
			[]time.Duration{10 * s, 10 * s}},
		{"rnd out of range is clamped", Backoff{Min: s, Max: 4 * s}, -3,
			[]time.Duration{s, 2 * s, 4 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			var got []time.Duration
			for range tt.want {
				got = append(got, b.Next(tt.rnd))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v\nwant    %v", got, tt.want)
			}
		})
	}
}

func TestBackoffBoundsAndReset(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Minute}
	for i := range 200 {
		rnd := float64(i%10) / 10
		d := b.Next(rnd)
		if d > time.Minute || d < time.Second/2 {
			t.Fatalf("attempt %d: wait %v outside [0.5s, 1m]", i, d)
		}
	}
	if d := b.Next(0); d != time.Minute {
		t.Fatalf("after 200 failures the wait is %v, want the cap 1m", d)
	}
	b.Reset()
	if d := b.Next(0); d != time.Second {
		t.Fatalf("after Reset the wait is %v, want Min 1s", d)
	}
	if d := b.Next(0); d != 2*time.Second {
		t.Fatalf("second wait after Reset is %v, want 2s", d)
	}
}
