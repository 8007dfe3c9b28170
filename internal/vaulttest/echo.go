package vaulttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Echo is a fake Vault that hands the request back: it answers with a
// status and the request itself (headers and body), raw or inside Vault's
// {"errors": [...]}, as a misbehaving proxy or debugging endpoint would.
// It keeps what each login carried that must never be shown: the signed
// header set and its SigV4 signature.
type Echo struct {
	*httptest.Server
	mu     sync.Mutex
	signed []string
}

// EchoOptions shape an Echo's answers.
type EchoOptions struct {
	Status int  // of every echo
	JSON   bool // the echo inside {"errors": [...]}, else the raw dump
	// Login, when set, is the 200 answer to auth/aws/login instead of the echo.
	Login string
}

var signatureRE = regexp.MustCompile(`Signature=([0-9a-f]{64})`)

// NewEcho starts an Echo for the test's lifetime.
func NewEcho(t testing.TB, o EchoOptions) *Echo {
	t.Helper()
	e := &Echo{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, err := httputil.DumpRequest(r, true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/v1/auth/aws/login" {
			e.keep(dump)
			if o.Login != "" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(o.Login))
				return
			}
		}
		if o.JSON {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(o.Status)
			_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {"upstream said: " + string(dump)}})
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(o.Status)
		_, _ = w.Write(dump)
	}))
	t.Cleanup(e.Close)
	return e
}

// keep records the signed header set of a login's dump and its signature.
func (e *Echo) keep(dump []byte) {
	_, body, _ := bytes.Cut(dump, []byte("\r\n\r\n"))
	var f struct {
		Headers string `json:"iam_request_headers"`
	}
	if json.Unmarshal(body, &f) != nil || f.Headers == "" {
		return
	}
	raw, _ := base64.StdEncoding.DecodeString(f.Headers)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.signed = append(e.signed, f.Headers)
	for _, m := range signatureRE.FindAllStringSubmatch(string(raw), -1) {
		e.signed = append(e.signed, m[1])
	}
}

// Shown lists which of the signed material the logins carried, and of
// secrets, text shows.
func (e *Echo) Shown(text string, secrets ...string) []string {
	e.mu.Lock()
	all := append(append([]string(nil), e.signed...), secrets...)
	e.mu.Unlock()
	var out []string
	for _, s := range all {
		if s != "" && strings.Contains(text, s) {
			out = append(out, s)
		}
	}
	return out
}
