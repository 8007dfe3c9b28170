package sink

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// fakeWrap hands out wrapping tokens wrap-1, wrap-2, ... and records what it wrapped.
type fakeWrap struct {
	wrapped []string
	fail    error
}

func (w *fakeWrap) wrap(_ context.Context, t token.Token, ttl time.Duration) (*api.SecretWrapInfo, error) {
	if w.fail != nil {
		return nil, w.fail
	}
	w.wrapped = append(w.wrapped, t.Token)
	return &api.SecretWrapInfo{Token: "wrap-" + string(rune('0'+len(w.wrapped))), Accessor: "wacc", TTL: int(ttl / time.Second),
		CreationTime: time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC), CreationPath: "sys/wrapping/wrap"}, nil
}

// A wrapping sink writes a new wrapping token for each new token, never
// the token, and not on a renewal; OnChange is called for each new token
// only.
func TestWrapAndOnChange(t *testing.T) {
	dir := t.TempDir()
	w := &fakeWrap{}
	changes := 0
	tokPath, jsonPath := filepath.Join(dir, "wrapped"), filepath.Join(dir, "wrapped.json")
	f := newFile(t, FileOptions{Path: tokPath, WrapTTL: 5 * time.Minute, Wrap: w.wrap, OnChange: func() { changes++ }})
	write(t, f, sample)
	if got := readFile(t, tokPath); got != "wrap-1" {
		t.Fatalf("the file holds %q, want the wrapping token wrap-1", got)
	}
	renewed := sample
	renewed.LeaseDuration *= 2
	write(t, f, renewed)
	newer := sample
	newer.Token = "hvs.newer"
	write(t, f, newer)
	if got := readFile(t, tokPath); got != "wrap-2" || len(w.wrapped) != 2 || w.wrapped[1] != "hvs.newer" || changes != 2 {
		t.Errorf("after a renewal and a new token: file %q, wrapped %q, %d changes; want wrap-2, 2 wraps, 2 changes", got, w.wrapped, changes)
	}

	j := newFile(t, FileOptions{Path: jsonPath, Format: "json", WrapTTL: time.Minute, Wrap: w.wrap})
	write(t, j, sample)
	var info map[string]any
	if err := json.Unmarshal([]byte(readFile(t, jsonPath)), &info); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"token", "accessor", "ttl", "creation_time", "creation_path", "wrapped_accessor"} {
		if _, ok := info[k]; !ok {
			t.Errorf("json wrap info lacks %q (Vault Agent's keys): %v", k, info)
		}
	}
	if info["ttl"] != float64(60) || strings.Contains(readFile(t, jsonPath), sample.Token) {
		t.Errorf("json wrap info: %v", info)
	}

	w.fail = errors.New("vault unreachable")
	newest := sample
	newest.Token = "hvs.newest"
	if err := f.Write(context.Background(), newest); err == nil || !strings.Contains(err.Error(), "wrap_ttl") {
		t.Errorf("a failed wrap: %v", err)
	}
	if got := readFile(t, tokPath); got != "wrap-2" || changes != 2 {
		t.Errorf("a failed wrap changed the file to %q, or ran on_change", got)
	}
}

func TestEncodeWrappedRefusesEnv(t *testing.T) {
	if _, err := EncodeWrapped("env", &api.SecretWrapInfo{Token: "w"}); err == nil {
		t.Error("env with a wrapping token was accepted")
	}
	if _, err := EncodeWrapped("token", &api.SecretWrapInfo{}); err == nil {
		t.Error("an empty wrapping token was accepted")
	}
}

// A file that holds the token already (an agent restarted with its kept
// token) is written again, but that is no change for on_change.
func TestOnChangeNotForTheTokenTheFileHolds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	changes := 0
	before := newFile(t, FileOptions{Path: path, Format: "json"})
	write(t, before, sample)
	after := newFile(t, FileOptions{Path: path, Format: "json", OnChange: func() { changes++ }})
	renewed := sample
	renewed.LeaseDuration *= 2
	write(t, after, renewed)
	if changes != 0 {
		t.Errorf("on_change for the token the file held before the restart")
	}
	newer := sample
	newer.Token = "hvs.newer"
	write(t, after, newer)
	if changes != 1 {
		t.Errorf("%d changes for a new token, want 1", changes)
	}
}
