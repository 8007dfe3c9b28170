package daemon

import (
	"strings"
	"time"
)

// tokenPrefixes are the prefixes of Vault tokens (service, batch and recovery, current and
// legacy). Accessors have none.
var tokenPrefixes = []string{"hvs.", "hvb.", "hvr.", "s.", "b.", "r."}

// StatusLine formats the agent's state for STATUS=, e.g.
// "state=renewing accessor=3WUYh1Zp5kD7ngBfAUtBTSKA ttl_left=41m3s". An empty accessor and a
// ttlLeft ≤ 0 are left out. It never shows a token: a value passed as accessor that looks like
// one is shown as "accessor=<redacted>", since STATUS= is readable by any local user through
// `systemctl status`.
func StatusLine(state, accessor string, ttlLeft time.Duration) string {
	var b strings.Builder
	b.WriteString("state=")
	b.WriteString(state)
	if accessor != "" {
		b.WriteString(" accessor=")
		if looksLikeToken(accessor) {
			b.WriteString("<redacted>")
		} else {
			b.WriteString(accessor)
		}
	}
	if ttlLeft > 0 {
		b.WriteString(" ttl_left=")
		b.WriteString(ttlLeft.Round(time.Second).String())
	}
	return b.String()
}

func looksLikeToken(s string) bool {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
