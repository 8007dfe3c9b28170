// Package vaulttest gives tests a vault/api client whose every request
// gets one canned answer, with no network: the fuzz targets of login and
// renew feed vault/api's decoding through it; and Echo, a fake Vault that
// hands each request back, for the tests that no secret it carried comes
// back out in an error or a log line.
package vaulttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/api"
)

// Statuses are the HTTP statuses a fuzzed Vault answers with.
var Statuses = []int{200, 204, 400, 401, 403, 404, 405, 412, 429, 500, 502, 503, 504}

// Answer is a round tripper that answers every request with one response.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// RoundTrip drains the request and returns the answer.
func (a Answer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: a.Status, Status: fmt.Sprintf("%d %s", a.Status, http.StatusText(a.Status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: a.Header, Body: io.NopCloser(bytes.NewReader(a.Body)), ContentLength: int64(len(a.Body)), Request: r,
	}, nil
}

// Client is a vault/api client without retries or token whose every
// request gets a.
func Client(t testing.TB, a Answer) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = "http://vault.invalid:8200"
	cfg.MaxRetries = 0
	cfg.HttpClient = &http.Client{Transport: a}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	return c
}
