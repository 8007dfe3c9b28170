package vault

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"junk":                          0,
		"Wed, 25 Nov 2026 12:01:00 GMT": time.Minute,
		"Wed, 25 Nov 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParseRetryAfter: never negative, and a number of seconds is taken
// as such when it is below a century.
func FuzzParseRetryAfter(f *testing.F) {
	for _, v := range []string{"", "0", "1", "30", " 30 ", "-5", "1.5", "18446744074",
		"Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 1970 07:28:00 GMT", "Monday, 02-Jan-06 15:04:05 MST", "\xff"} {
		f.Add(v)
	}
	now := time.Date(2026, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v", v, d)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 && n < 100*365*24*3600 && d != time.Duration(n)*time.Second {
			t.Fatalf("parseRetryAfter(%q) = %v, want %ds", v, d, n)
		}
	})
}
