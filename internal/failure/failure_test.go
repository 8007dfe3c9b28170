package failure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// The exit codes, labels and names are interfaces (README, --help, the
// Prometheus rules, diagnose's JSON): this pins them.
func TestTable(t *testing.T) {
	tests := []struct {
		k           Kind
		exit        int
		label, name string
		retry       Retry
	}{
		{None, 0, "none", "", RetryLater},
		{Runtime, 1, "transient", "", RetryLater},
		{Config, 2, "config", "config", RetryLater},
		{Credentials, 3, "credentials", "credentials", RetryLater},
		{Unreachable, 4, "transient", "unreachable", RetryLater},
		{Refused, 5, "login_refused", "refused", LoginSlowly},
		{NonceMismatch, 7, "login_refused", "refused", LoginSlowly},
		{RenewRefused, 5, "renew_refused", "", LoginNow},
		{Sink, 6, "sink", "", RetryLater},
		{Kind(200), 1, "transient", "", RetryLater},
	}
	for _, tt := range tests {
		name, _ := tt.k.MarshalText()
		if tt.k.ExitCode() != tt.exit || tt.k.Label() != tt.label || string(name) != tt.name || tt.k.Retry() != tt.retry {
			t.Errorf("%v: exit %d, label %q, name %q, retry %d; want %d, %q, %q, %d",
				tt.k, tt.k.ExitCode(), tt.k.Label(), name, tt.k.Retry(), tt.exit, tt.label, tt.name, tt.retry)
		}
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		err  error
		want Kind
	}{
		{nil, None},
		{errors.New("odd"), Runtime},
		{fmt.Errorf("%w: imds timeout", Credentials), Credentials},
		{fmt.Errorf("login: %w", fmt.Errorf("%w: dial", Unreachable)), Unreachable},
		{fmt.Errorf("login: %w", context.DeadlineExceeded), Unreachable},
		{context.Canceled, Runtime},
		{errors.Join(errors.New("a"), NonceMismatch), NonceMismatch},
		{Mark(Sink, fmt.Errorf("%w: x", Unreachable)), Sink},
	}
	for _, tt := range tests {
		if got := Of(tt.err); got != tt.want {
			t.Errorf("Of(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	err := Mark(Config, errors.New("flag provided but not defined: -x"))
	if err.Error() != "flag provided but not defined: -x" {
		t.Errorf("Mark changed the message: %q", err)
	}
	if Mark(Config, nil) != nil {
		t.Error("Mark of nil is not nil")
	}
}

func TestJSON(t *testing.T) {
	type result struct {
		Kind Kind `json:"kind,omitzero"`
	}
	for k, want := range map[Kind]string{Refused: `{"kind":"refused"}`, Runtime: `{}`, None: `{}`, Config: `{"kind":"config"}`} {
		b, err := json.Marshal(result{k})
		if err != nil || string(b) != want {
			t.Errorf("%v: %s, %v; want %s", k, b, err, want)
		}
		var back result
		if err := json.Unmarshal(b, &back); err != nil || (back.Kind != k && !back.Kind.IsZero()) {
			t.Errorf("%s read back as %v, %v", b, back.Kind, err)
		}
	}
	var r result
	if err := json.Unmarshal([]byte(`{"kind":"nope"}`), &r); err == nil {
		t.Error("an unknown kind was read")
	}
}
