package daemon

import (
	"testing"
	"time"
)

func TestStatusLine(t *testing.T) {
	tests := []struct {
		state, accessor string
		ttl             time.Duration
		want            string
	}{
		{"renewing", "3WUYh1Zp5kD7ngBfAUtBTSKA", 41*time.Minute + 3*time.Second + 400*time.Millisecond,
			"state=renewing accessor=3WUYh1Zp5kD7ngBfAUtBTSKA ttl_left=41m3s"},
		{"logging-in", "", 0, "state=logging-in"},
		{"expired", "3WUYh1Zp5kD7ngBfAUtBTSKA", -time.Second, "state=expired accessor=3WUYh1Zp5kD7ngBfAUtBTSKA"},
		{"ready", "hvs.CAESIJ3x", time.Hour, "state=ready accessor=<redacted> ttl_left=1h0m0s"},
		{"ready", "s.Q9kGyV6q", time.Hour, "state=ready accessor=<redacted> ttl_left=1h0m0s"},
		{"ready", "hvb.AAAAAQ", time.Hour, "state=ready accessor=<redacted> ttl_left=1h0m0s"},
	}
	for _, tt := range tests {
		if got := StatusLine(tt.state, tt.accessor, tt.ttl); got != tt.want {
			t.Errorf("StatusLine(%q, %q, %v) = %q, want %q", tt.state, tt.accessor, tt.ttl, got, tt.want)
		}
	}
}
