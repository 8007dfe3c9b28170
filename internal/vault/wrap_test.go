package vault

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// Wrap posts {"token": T} to sys/wrapping/wrap as T, with the wrap TTL in
// X-Vault-Wrap-TTL, and returns Vault's wrap info.
func TestWrap(t *testing.T) {
	var got struct {
		path, token, ttl string
		body             map[string]string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.token, got.ttl = r.URL.Path, r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Wrap-TTL")
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		if got.body["token"] == "refused" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		_, _ = w.Write([]byte(`{"wrap_info":{"token":"hvs.wrapping","accessor":"wacc","ttl":300,"creation_path":"sys/wrapping/wrap","wrapped_accessor":""}}`))
	}))
	defer srv.Close()
	c, err := NewClient(config.Vault{Addresses: []string{srv.URL}}, config.Lifecycle{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Wrap(context.Background(), c, "hvs.secret", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.path != "/v1/sys/wrapping/wrap" || got.token != "hvs.secret" || got.ttl != "5m0s" || got.body["token"] != "hvs.secret" {
		t.Errorf("request: %+v", got)
	}
	if w.Token != "hvs.wrapping" || w.Accessor != "wacc" || w.TTL != 300 {
		t.Errorf("wrap info: %+v", w)
	}
	if c.Token() != "" {
		t.Error("Wrap left a token on the client")
	}
	_, err = Wrap(context.Background(), c, "refused", time.Minute)
	if !errors.Is(err, failure.Refused) {
		t.Errorf("a 403: %v, want failure.Refused", err)
	}
}
