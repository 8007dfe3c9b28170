package localapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"

	"go.uber.org/zap/zapcore"

	"github.com/xauth-agent/xauth-agent/internal/sink"
)

// record runs one request through s's handler as peer p, without a socket.
func record(ctx context.Context, s *Server, p Peer, method, target string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(withPeer(ctx, p), method, target, nil)
	req.Header.Set(RequestHeader, "true")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

var self = Peer{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), PID: 1}

// tokenAt is testToken expiring ttl after now (which synctest fakes).
func tokenAt(tok string, ttl time.Duration) token.Token {
	t := testToken
	t.Token = tok
	t.ExpiresAt = time.Now().Add(ttl)
	return t
}

func TestLongPollWithFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := newServer(t, Options{Path: "/run/test/agent.sock"})
		write(t, s, tokenAt("hvs.first", time.Hour))

		// A rotation wakes a parked poll.
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- record(ctx, s, self, http.MethodGet, PathToken+"?wait=60s", "If-None-Match", `"1"`) }()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the poll returned before the token changed")
		default:
		}
		time.Sleep(30 * time.Second)
		write(t, s, tokenAt("hvs.second", time.Hour))
		rec := <-done
		if rec.Code != http.StatusOK || rec.Body.String() != "hvs.second" || rec.Header().Get("ETag") != `"2"` {
			t.Fatalf("woken poll: %d %q ETag %s", rec.Code, rec.Body, rec.Header().Get("ETag"))
		}

		// The wait runs out: 304 after exactly the wait.
		start := time.Now()
		rec = record(ctx, s, self, http.MethodGet, PathToken+"?wait=60s", "If-None-Match", `"2"`)
		if rec.Code != http.StatusNotModified || time.Since(start) != time.Minute {
			t.Fatalf("timed-out poll: %d after %v, want 304 after 1m", rec.Code, time.Since(start))
		}

		// Waits are capped.
		start = time.Now()
		rec = record(ctx, s, self, http.MethodGet, PathToken+"?wait=1h", "If-None-Match", `"2"`)
		if rec.Code != http.StatusNotModified || time.Since(start) != MaxWait {
			t.Fatalf("capped poll: %d after %v, want 304 after %v", rec.Code, time.Since(start), MaxWait)
		}
		start = time.Now()
		record(ctx, s, self, http.MethodGet, PathToken+"?wait=86400", "If-None-Match", `"2"`)
		if time.Since(start) != MaxWait {
			t.Fatalf("capped poll in seconds took %v", time.Since(start))
		}
	})
}

func TestWaitForFirstTokenWithFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := newServer(t, Options{Path: "/run/test/agent.sock"})

		// Without a token a poll that runs out is 503, not 304.
		rec := record(ctx, s, self, http.MethodGet, PathToken+"?wait=10s")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Fatalf("poll without a token: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}

		token := make(chan *httptest.ResponseRecorder, 1)
		health := make(chan *httptest.ResponseRecorder, 1)
		go func() { token <- record(ctx, s, self, http.MethodGet, PathToken+"?wait=2m") }()
		go func() { health <- record(ctx, s, self, http.MethodGet, PathHealth+"?wait=2m") }()
		synctest.Wait()
		setState(s, "logging-in", nil, time.Now().Add(10*time.Second)) // wakes, but no token yet
		synctest.Wait()
		if len(token)+len(health) != 0 {
			t.Fatal("a poll returned without a token")
		}
		write(t, s, tokenAt("hvs.first", time.Hour))
		if rec := <-token; rec.Code != http.StatusOK || rec.Body.String() != "hvs.first" {
			t.Errorf("token poll: %d %q", rec.Code, rec.Body)
		}
		if rec := <-health; rec.Code != http.StatusOK {
			t.Errorf("health poll: %d", rec.Code)
		}
	})
}

func TestExpiredTokenWithFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s, _ := newServer(t, Options{Path: "/run/test/agent.sock"})
		write(t, s, tokenAt("hvs.first", 10*time.Second))
		setState(s, "retrying-renew", nil, time.Now().Add(20*time.Second))
		if rec := record(ctx, s, self, http.MethodGet, PathHealth); rec.Code != http.StatusOK {
			t.Fatalf("health before expiry: %d", rec.Code)
		}
		if got := ttlNow(s); got != 10 {
			t.Errorf("ttl gauge %v, want 10", got)
		}
		time.Sleep(10 * time.Second)

		rec := record(ctx, s, self, http.MethodGet, PathToken)
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "hvs.first") {
			t.Fatalf("expired token: %d %q", rec.Code, rec.Body)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "10" {
			t.Errorf("Retry-After %q, want the 10 s to the next attempt", ra)
		}
		rec = record(ctx, s, self, http.MethodGet, PathHealth)
		var h Health
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != http.StatusServiceUnavailable ||
			h != (Health{State: "retrying-renew", TokenState: "expired"}) {
			t.Fatalf("health after expiry: %d %+v %v", rec.Code, h, err)
		}
		var st Status
		rec = record(ctx, s, self, http.MethodGet, PathStatus)
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.TokenState != "expired" || st.TTLLeft != 0 {
			t.Fatalf("status after expiry: %+v %v", st, err)
		}
		if got := ttlNow(s); got != 0 {
			t.Errorf("ttl gauge %v after expiry, want 0", got)
		}

		// A renewal arriving late for the current token revives it.
		write(t, s, tokenAt("hvs.first", time.Hour))
		if rec := record(ctx, s, self, http.MethodGet, PathToken); rec.Code != http.StatusOK || rec.Header().Get("ETag") != `"1"` {
			t.Fatalf("after the renewal: %d ETag %s", rec.Code, rec.Header().Get("ETag"))
		}
	})
}

func TestWhoMayCall(t *testing.T) {
	const agent = 1000 // the agent's uid in this test
	tests := []struct {
		name string
		o    Options
		peer *Peer // nil: credentials unknown
		want int
	}{
		{"the agent's own uid", Options{}, &Peer{UID: agent, GID: 5}, http.StatusOK},
		{"root is not implied", Options{}, &Peer{UID: 0, GID: 0}, http.StatusForbidden},
		{"root when listed", Options{AllowUIDs: []int{0}}, &Peer{UID: 0, GID: 0}, http.StatusOK},
		{"root through gid 0 when listed", Options{AllowGIDs: []int{0}}, &Peer{UID: 0, GID: 0}, http.StatusOK},
		{"listed uid", Options{AllowUIDs: []int{1001}}, &Peer{UID: 1001, GID: 7}, http.StatusOK},
		{"unlisted uid", Options{AllowUIDs: []int{1001}}, &Peer{UID: 1002, GID: 7}, http.StatusForbidden},
		{"primary gid", Options{AllowGIDs: []int{7}}, &Peer{UID: 1002, GID: 7}, http.StatusOK},
		{"supplementary gid", Options{AllowGIDs: []int{9}}, &Peer{UID: 1002, GID: 7, Groups: []uint32{8, 9}}, http.StatusOK},
		{"no listed gid", Options{AllowGIDs: []int{9}}, &Peer{UID: 1002, GID: 7, Groups: []uint32{8}}, http.StatusForbidden},
		{"unknown credentials", Options{AllowUIDs: []int{0}}, nil, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Path = "/run/test/agent.sock"
			s, logs := newServer(t, tt.o)
			s.policy.Load().self = agent
			write(t, s, testToken)
			req := httptest.NewRequest(http.MethodGet, PathToken, nil)
			req.Header.Set(RequestHeader, "true")
			if tt.peer != nil {
				req = req.WithContext(withPeer(req.Context(), *tt.peer))
			}
			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("got %d %q, want %d", rec.Code, rec.Body, tt.want)
			}
			if tt.want == http.StatusForbidden && logs.FilterLevelExact(zapcore.WarnLevel).Len() != 1 {
				t.Errorf("refusal not logged once: %v", logs.All())
			}
		})
	}
}

func TestDenyLogRateLimit(t *testing.T) {
	d := denyLog{every: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		uid        uint32
		at         time.Duration
		log        bool
		suppressed int
	}{
		{5, 0, true, 0},
		{5, time.Second, false, 0},
		{6, time.Second, true, 0},
		{5, 30 * time.Second, false, 0},
		{5, 61 * time.Second, true, 2},
		{5, 62 * time.Second, false, 0},
	}
	for i, s := range steps {
		log, n := d.allow(s.uid, t0.Add(s.at))
		if log != s.log || n != s.suppressed {
			t.Errorf("step %d: allow(%d, +%v) = %v, %d; want %v, %d", i, s.uid, s.at, log, n, s.log, s.suppressed)
		}
	}
}

func TestWaitParam(t *testing.T) {
	tests := []struct {
		q       string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"wait=", 0, false},
		{"wait=60s", time.Minute, false},
		{"wait=90", 90 * time.Second, false},
		{"wait=1h", MaxWait, false},
		{"wait=99999999999999999999", 0, true},
		{"wait=18446744073709551615", MaxWait, false},
		{"wait=0", 0, false},
		{"wait=-5s", 0, true},
		{"wait=soon", 0, true},
		{"wait=1.5s", 1500 * time.Millisecond, false},
		{"wait=%zz", 0, true},
		{"other=1&wait=2s", 2 * time.Second, false},
	}
	for _, tt := range tests {
		got, err := waitParam(tt.q)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("waitParam(%q) = %v, %v; want %v, error %v", tt.q, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestHeaderParsing(t *testing.T) {
	etags := []struct {
		values []string
		gen    uint64
		want   bool
	}{
		{nil, 1, false},
		{[]string{`"1"`}, 1, true},
		{[]string{`"1"`}, 0, false},
		{[]string{`"2", W/"1"`}, 1, true},
		{[]string{`"12"`}, 1, false},
		{[]string{`1`}, 1, false},
		{[]string{`*`}, 3, true},
		{[]string{`"3"`, `"4"`}, 4, true},
	}
	for _, tt := range etags {
		if got := etagMatches(tt.values, tt.gen); got != tt.want {
			t.Errorf("etagMatches(%q, %d) = %v", tt.values, tt.gen, got)
		}
	}
	accepts := map[string]bool{
		"":                                 false,
		"application/json":                 true,
		"text/plain, Application/JSON;q=1": true,
		"application/jsonx":                false,
		"*/*":                              false,
	}
	for v, want := range accepts {
		if got := acceptsJSON([]string{v}); got != want {
			t.Errorf("acceptsJSON(%q) = %v", v, got)
		}
	}
}

func TestLabelWord(t *testing.T) {
	for in, want := range map[string]string{
		"transient": "transient", "login_refused": "login_refused", "": "other",
		"Transient": "other", "dial tcp: refused": "other", strings.Repeat("a", 33): "other",
	} {
		if got := labelWord(in); got != want {
			t.Errorf("labelWord(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNilMetricsAreSafe(t *testing.T) {
	var m *Metrics
	m.SinkError("file:/x")
}

func TestServerName(t *testing.T) {
	s, _ := newServer(t, Options{Path: "/run/test/agent.sock"})
	if s.Name() != "socket:/run/test/agent.sock" {
		t.Errorf("Name() = %q", s.Name())
	}
}

// FuzzHandler feeds arbitrary requests to the handler, as a known or an
// unknown caller, and checks it neither panics nor answers outside the
// API's status codes, and shows the token only in a 200.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/v1/token", "wait=60s", `"1"`, "application/json", "true", uint32(0), true)
	f.Add("GET", "/v1/token", "", "", "", "true", uint32(0), true)
	f.Add("HEAD", "/v1/health", "wait=1", "*", "", "true", uint32(0), true)
	f.Add("GET", "/v1/status", "", "", "text/html", "TRUE", uint32(0), true)
	f.Add("GET", "/metrics", "", "", "application/openmetrics-text", "true", uint32(0), true)
	f.Add("POST", "/v1/token", "wait=%zz", "", "", "true", uint32(0), true)
	f.Add("GET", "/../v1//token", "wait=-1", "", "", "", uint32(65534), false)
	f.Add("BREW", "", "wait=99999999999999999999", `W/"1", "2"`, "*/*", "yes", uint32(1), true)

	s, _ := newServer(f, Options{Path: "/run/test/agent.sock", Sinks: func() []sink.Status {
		return []sink.Status{{Name: "file:/x", Generation: 1, LastWrite: time.Now()}}
	}})
	write(f, s, testToken)
	setState(s, "renewing", nil, time.Now().Add(time.Minute))
	// Requests come with a cancelled context: a long-poll ends at once
	// (503) instead of waiting minutes; fake-time tests cover the waits.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	known := map[int]bool{200: true, 304: true, 400: true, 403: true, 404: true, 405: true, 429: true, 503: true}

	f.Fuzz(func(t *testing.T, method, path, query, inm, accept, guard string, uid uint32, withCreds bool) {
		req := (&http.Request{
			Method: method, URL: &url.URL{Path: path, RawQuery: query},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Host: "localhost",
		}).WithContext(ctx)
		if withCreds {
			req = req.WithContext(withPeer(ctx, Peer{UID: uid, GID: uid}))
		}
		for k, v := range map[string]string{"If-None-Match": inm, "Accept": accept, RequestHeader: guard} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if !known[rec.Code] {
			t.Fatalf("%s %q?%q: status %d", method, path, query, rec.Code)
		}
		if rec.Code != http.StatusOK && strings.Contains(rec.Body.String(), testToken.Token) {
			t.Fatalf("%s %q: %d answer shows the token", method, path, rec.Code)
		}
	})
}
