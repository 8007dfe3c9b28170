package token

import (
	"math"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestOfClampsTheLease(t *testing.T) {
	issued := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTTL := time.Duration(math.MaxInt64/int64(time.Second)) * time.Second
	tests := []struct {
		lease int
		want  time.Duration
	}{
		{3600, time.Hour},
		{0, 0},
		{-5, 0},
		{math.MaxInt64 / int(time.Second), maxTTL},
		{math.MaxInt64/int(time.Second) + 1, maxTTL}, // wrapped to a negative TTL before
		{math.MaxInt, maxTTL},
	}
	for _, tt := range tests {
		tok := Of(&api.Secret{Auth: &api.SecretAuth{ClientToken: "t", LeaseDuration: tt.lease}}, issued)
		if tok.LeaseDuration != tt.want || !tok.ExpiresAt.Equal(issued.Add(tt.want)) {
			t.Errorf("lease %d s: TTL %v, expires %v; want %v", tt.lease, tok.LeaseDuration, tok.ExpiresAt, tt.want)
		}
	}
}
