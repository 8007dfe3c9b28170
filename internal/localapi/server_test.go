package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/sink"
	"github.com/xauth-agent/xauth-agent/internal/vault"
)

func TestTokenOverSocket(t *testing.T) {
	s, logs := newServer(t, Options{})
	serve(t, s)
	write(t, s, testToken)

	a := get(t, s.Path(), PathToken)
	if a.code != http.StatusOK || a.body != testToken.Token {
		t.Fatalf("got %d %q, want 200 and the token without a newline", a.code, a.body)
	}
	want := map[string]string{
		"Content-Type":  "text/plain; charset=utf-8",
		"Cache-Control": "no-store",
		"Etag":          `"1"`,
		ExpiresHeader:   testToken.ExpiresAt.UTC().Format(time.RFC3339),
	}
	for k, v := range want {
		if got := a.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	a = get(t, s.Path(), PathToken, "Accept", "text/html, application/json;q=0.9")
	var ti TokenInfo
	if err := json.Unmarshal([]byte(a.body), &ti); err != nil || a.code != http.StatusOK {
		t.Fatalf("JSON answer %d %q: %v", a.code, a.body, err)
	}
	if ti.Token != testToken.Token || ti.Accessor != "acc-1" || ti.Generation != 1 || !ti.Renewable ||
		len(ti.Policies) != 2 || !ti.ExpiresAt.Equal(testToken.ExpiresAt.Truncate(time.Second)) {
		t.Errorf("token info = %+v", ti)
	}

	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if strings.Contains(e.Message, testToken.Token) || strings.Contains(toString(v), testToken.Token) {
				t.Errorf("log line %q field %s shows the token", e.Message, k)
			}
		}
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGuardHeaderPathsAndMethods(t *testing.T) {
	s, _ := newServer(t, Options{})
	serve(t, s)
	write(t, s, testToken)
	tests := []struct {
		name    string
		method  string
		target  string
		noGuard bool
		headers []string
		want    int
	}{
		{"missing header", http.MethodGet, PathToken, true, nil, http.StatusBadRequest},
		{"header false", http.MethodGet, PathToken, true, []string{RequestHeader, "false"}, http.StatusBadRequest},
		{"header any case", http.MethodGet, PathToken, true, []string{RequestHeader, "TRUE"}, http.StatusOK},
		{"unknown path", http.MethodGet, "/v1/nope", false, nil, http.StatusNotFound},
		{"root", http.MethodGet, "/", false, nil, http.StatusNotFound},
		{"post token", http.MethodPost, PathToken, false, nil, http.StatusMethodNotAllowed},
		{"delete status", http.MethodDelete, PathStatus, false, nil, http.StatusMethodNotAllowed},
		{"head token", http.MethodHead, PathToken, false, nil, http.StatusOK},
		{"bad wait", http.MethodGet, PathToken + "?wait=soon", false, nil, http.StatusBadRequest},
		{"negative wait", http.MethodGet, PathHealth + "?wait=-1s", false, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, s.Path(), tt.method, tt.target, tt.noGuard, tt.headers...)
			if a.code != tt.want {
				t.Fatalf("got %d %q, want %d", a.code, a.body, tt.want)
			}
			if tt.want == http.StatusMethodNotAllowed && a.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", a.header.Get("Allow"))
			}
			if tt.want >= 400 && strings.Contains(a.body, testToken.Token) {
				t.Errorf("error answer shows the token")
			}
		})
	}
}

func TestHealthFlipsOnFirstWrite(t *testing.T) {
	s, _ := newServer(t, Options{})
	serve(t, s)

	a := get(t, s.Path(), PathHealth)
	if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("before a token: %d, Retry-After %q; want 503 with Retry-After", a.code, a.header.Get("Retry-After"))
	}
	if a = get(t, s.Path(), PathToken); a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("token before a token: %d %q", a.code, a.body)
	}

	setState(s, "renewing", nil, time.Time{})
	write(t, s, testToken)
	a = get(t, s.Path(), PathHealth)
	var h Health
	if err := json.Unmarshal([]byte(a.body), &h); err != nil || a.code != http.StatusOK {
		t.Fatalf("after Write: %d %q (%v)", a.code, a.body, err)
	}
	if h != (Health{State: "renewing", TokenState: "valid"}) {
		t.Errorf("health = %+v", h)
	}
}

// TestLongPollOverSocket uses real time on a real socket, so its waits are
// short; the synctest variants in handler_test.go cover the minute-long ones.
func TestLongPollOverSocket(t *testing.T) {
	s, _ := newServer(t, Options{})
	parked := make(chan struct{}, 1)
	s.onParked = func() { parked <- struct{}{} }
	serve(t, s)
	write(t, s, testToken)

	t.Run("rotation wakes the poll", func(t *testing.T) {
		got := make(chan answer, 1)
		go func() { got <- poll(s.Path(), PathToken+"?wait=60s", "If-None-Match", `"1"`) }()
		select {
		case <-parked:
		case <-time.After(5 * time.Second):
			t.Fatal("the long-poll never parked")
		}
		next := testToken
		next.Token, next.Accessor = "hvs.second", "acc-2"
		write(t, s, next)
		select {
		case a := <-got:
			if a.code != http.StatusOK || a.body != "hvs.second" || a.header.Get("ETag") != `"2"` {
				t.Fatalf("got %d %q ETag %s, want 200 hvs.second \"2\"", a.code, a.body, a.header.Get("ETag"))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the long-poll did not return after the rotation")
		}
	})

	t.Run("renewal does not wake it", func(t *testing.T) {
		got := make(chan answer, 1)
		go func() { got <- poll(s.Path(), PathToken+"?wait=300ms", "If-None-Match", `"2"`) }()
		<-parked
		renewed := testToken
		renewed.Token, renewed.ExpiresAt = "hvs.second", time.Now().Add(2*time.Hour)
		write(t, s, renewed)
		a := <-got
		if a.code != http.StatusNotModified || a.header.Get("ETag") != `"2"` {
			t.Fatalf("got %d %q, want 304 with ETag \"2\"", a.code, a.body)
		}
		if a.header.Get(ExpiresHeader) != renewed.ExpiresAt.UTC().Format(time.RFC3339) {
			t.Errorf("expiry %q, want the renewed one", a.header.Get(ExpiresHeader))
		}
	})

	t.Run("stale etag answers at once", func(t *testing.T) {
		a := get(t, s.Path(), PathToken+"?wait=5m", "If-None-Match", `"1"`)
		if a.code != http.StatusOK || a.body != "hvs.second" {
			t.Fatalf("got %d %q", a.code, a.body)
		}
	})

	t.Run("conditional get without wait", func(t *testing.T) {
		a := get(t, s.Path(), PathToken, "If-None-Match", `W/"2"`)
		if a.code != http.StatusNotModified {
			t.Fatalf("got %d", a.code)
		}
	})
}

func TestServeStopEndsLongPolls(t *testing.T) {
	s, _ := newServer(t, Options{})
	parked := make(chan struct{}, 1)
	s.onParked = func() { parked <- struct{}{} }
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	got := make(chan answer, 1)
	go func() { got <- poll(s.Path(), PathHealth+"?wait=5m") }()
	<-parked
	cancel()
	select {
	case a := <-got:
		if a.code != http.StatusServiceUnavailable {
			t.Errorf("parked poll got %d, want 503", a.code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stopping did not end the parked poll")
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left behind: %v", err)
	}
}

func TestStatusJSON(t *testing.T) {
	statuses := func() []sink.Status {
		return []sink.Status{
			{Name: "file:/run/x/token", Generation: 1, LastWrite: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
			{Name: "file:/bad/token", LastError: "open /bad: permission denied (token hvs.CAESIJ-secret-token)"},
		}
	}
	addrs := func() []vault.AddressStatus {
		return []vault.AddressStatus{
			{Address: "https://vault-a:8200", State: vault.AddressDown, LastError: "HTTP 500: echoed " + testToken.Token, Since: time.Now()},
			{Address: "https://vault-b:8200", State: vault.AddressUp, Since: time.Now()},
		}
	}
	s, _ := newServer(t, Options{Sinks: statuses, Vault: addrs, Version: "1.2.3"})
	serve(t, s)
	write(t, s, testToken)
	next := time.Now().Add(40 * time.Minute)
	setState(s, "retrying-renew", errors.New("vault: 503 for hvs.CAESIJ-secret-token"), next)

	a := get(t, s.Path(), PathStatus)
	if a.code != http.StatusOK {
		t.Fatalf("status %d %q", a.code, a.body)
	}
	if strings.Contains(a.body, testToken.Token) {
		t.Fatalf("status shows the token: %s", a.body)
	}
	var st Status
	if err := json.Unmarshal([]byte(a.body), &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "retrying-renew" || st.TokenState != "valid" || st.Accessor != "acc-1" || st.Version != "1.2.3" ||
		st.Generation != 1 || !st.Renewable || len(st.Policies) != 2 {
		t.Errorf("status = %+v", st)
	}
	if st.TTLLeft < 3500 || st.TTLLeft > 3600 {
		t.Errorf("ttl_left = %d, want about 3600", st.TTLLeft)
	}
	if !st.NextRenewal.Equal(next.Truncate(time.Second)) || !strings.Contains(st.LastError, "<redacted>") {
		t.Errorf("next_renewal %v, last_error %q", st.NextRenewal, st.LastError)
	}
	if len(st.Sinks) != 3 || st.Sinks[0].Name != "file:/run/x/token" || st.Sinks[0].Generation != 1 ||
		st.Sinks[0].LastWrite.IsZero() || st.Sinks[1].LastError == "" ||
		st.Sinks[2].Name != "socket:"+s.Path() || st.Sinks[2].Generation != 1 || st.Sinks[2].LastWrite.IsZero() {
		t.Errorf("sinks = %+v", st.Sinks)
	}
	if len(st.Vault) != 2 || st.Vault[0].State != "down" || st.Vault[0].LastError != "HTTP 500: echoed <redacted>" ||
		st.Vault[1].Address != "https://vault-b:8200" || st.Vault[1].State != "up" || st.Vault[1].Since.IsZero() {
		t.Errorf("vault = %+v", st.Vault)
	}
	for _, key := range []string{`"ttl_left"`, `"expires_at"`, `"next_renewal"`, `"last_error"`, `"sinks"`, `"version"`, `"last_write"`, `"vault"`, `"since"`} {
		if !strings.Contains(a.body, key) {
			t.Errorf("status JSON lacks %s: %s", key, a.body)
		}
	}
}

func TestMetricsOverSocket(t *testing.T) {
	s, _ := newServer(t, Options{})
	serve(t, s)
	write(t, s, testToken)
	m := s.Metrics()
	loginOK(m)
	loginFailed(m, "login_refused")
	loginFailed(m, "Post https://vault: dial tcp: refused")
	renewed(m)
	setBackoff(m, 1500*time.Millisecond)
	m.SinkError("file:/run/x/token")

	a := get(t, s.Path(), PathMetrics)
	if a.code != http.StatusOK {
		t.Fatalf("metrics %d", a.code)
	}
	if miss := containsAll(a.body,
		"xauth_logins_total 1",
		`xauth_login_failures_total{reason="login_refused"} 1`,
		`xauth_login_failures_total{reason="other"} 1`,
		"xauth_renewals_total 1",
		"xauth_token_ttl_seconds 35", // 35xx seconds left of the hour
		`xauth_sink_write_errors_total{sink="file:/run/x/token"} 1`,
		"xauth_backoff_seconds 1.5",
		`xauth_build_info{version="test"} 1`,
		"go_goroutines",
	); miss != "" {
		t.Errorf("metrics lack %q:\n%s", miss, a.body)
	}
}

func TestSocketModeGroupAndNoLeftovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to choose the socket's group")
	}
	s, _ := newServer(t, Options{Mode: 0o640, GID: 4242})
	// What a crash between bind and rename leaves, and a stranger's directory.
	dir := filepath.Dir(s.Path())
	leftover := filepath.Join(dir, ".agent.sock.tmp-123")
	other := filepath.Join(dir, ".agent.sock.tmp-x")
	for _, d := range []string{leftover, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(leftover, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()

	serve(t, s)
	var st syscall.Stat_t
	if err := syscall.Lstat(s.Path(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK || st.Mode&0o777 != 0o640 || st.Gid != 4242 {
		t.Errorf("socket mode %o gid %d, want socket 0640 gid 4242", st.Mode, st.Gid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".agent.sock.tmp-x agent.sock" {
		t.Errorf("directory holds %v, want the socket and the directory that is not a leftover", names)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	s, logs := newServer(t, Options{})
	// A socket whose listener is gone: what a crashed agent leaves.
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.Path(), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("Check with a stale socket: %v", err)
	}
	serve(t, s)
	write(t, s, testToken)
	if a := get(t, s.Path(), PathToken); a.code != http.StatusOK {
		t.Fatalf("after replacing the stale socket: %d", a.code)
	}
	if logs.FilterMessage("replaced stale socket").Len() != 1 {
		t.Error("no log line about the stale socket")
	}
}

func TestLiveSocketIsAnError(t *testing.T) {
	first, _ := newServer(t, Options{})
	serve(t, first)
	second, _ := newServer(t, Options{Path: first.Path()})
	for name, err := range map[string]error{"Check": second.Check(), "Listen": second.Listen()} {
		if err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("%s with a live agent on the path: %v, want an 'in use' error", name, err)
		}
	}
	write(t, first, testToken)
	if a := get(t, first.Path(), PathToken); a.code != http.StatusOK {
		t.Fatalf("the first agent lost its socket: %d", a.code)
	}
	// Check on the serving server itself passes: a reload re-checks sinks.
	if err := first.Check(); err != nil {
		t.Errorf("Check while serving: %v", err)
	}
}

func TestCheckRefuses(t *testing.T) {
	dir := socketDir(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"missing directory", filepath.Join(dir, "nope", "agent.sock"), "does not exist"},
		{"directory is a file", filepath.Join(file, "agent.sock"), "not a directory"},
		{"regular file at the path", file, "not a socket"},
		{"symlink at the path", filepath.Join(dir, "link"), "not a socket"},
		{"path too long", filepath.Join(dir, strings.Repeat("d", 100), "agent.sock"), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServer(t, Options{Path: tt.path})
			err := s.Check()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check: %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("Check touched the file: %v", err)
			}
		})
	}
}

func TestServeKeepsASuccessorsSocket(t *testing.T) {
	s, _ := newServer(t, Options{})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	// Another process replaced the socket file meanwhile.
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(), []byte("successor"), 0o600); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(s.Path()); err != nil || string(b) != "successor" {
		t.Errorf("Serve removed a file it did not create: %q %v", b, err)
	}
}

// runChild runs the test binary as uid:gid with the given supplementary
// groups; it asks for the token and reports the status code.
func runChild(t *testing.T, sock string, uid, gid uint32, groups ...uint32) string {
	t.Helper()
	bin, err := childBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{childEnv + "=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as %d:%d: %v; output %q", uid, gid, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestPeerCredentialsOfAnotherUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	const nobody = 65534
	tests := []struct {
		name   string
		o      Options
		groups []uint32
		want   string
	}{
		{"not listed", Options{Mode: 0o666}, nil, "403 403"},
		{"listed uid", Options{Mode: 0o666, AllowUIDs: []int{nobody}}, nil, "200 200"},
		{"listed primary gid", Options{Mode: 0o666, AllowGIDs: []int{nobody}}, nil, "200 200"},
		{"listed supplementary gid", Options{Mode: 0o666, AllowGIDs: []int{4242}}, []uint32{4241, 4242}, "200 200"},
		{"other gid listed", Options{Mode: 0o666, AllowGIDs: []int{4242}}, []uint32{4241}, "403 403"},
		{"file mode shuts out first", Options{AllowUIDs: []int{nobody}}, nil, "unreachable: connect: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each child start costs about a second under -race
			s, logs := newServer(t, tt.o)
			serve(t, s)
			write(t, s, testToken)
			if got := runChild(t, s.Path(), nobody, nobody, tt.groups...); got != tt.want {
				t.Fatalf("child got %q, want %q", got, tt.want)
			}
			if !strings.HasPrefix(tt.want, "403") {
				return
			}
			denied := logs.FilterMessage("refused a caller not in allow_uids or allow_gids").All()
			if len(denied) != 1 { // two refusals within DenyLogInterval: one line
				t.Fatalf("%d refusal log lines, want 1", len(denied))
			}
			f := denied[0].ContextMap()
			if f[fieldUID] != uint32(nobody) || f[fieldGID] != uint32(nobody) || f[fieldPID] == nil || f[fieldPID] == int32(0) {
				t.Errorf("refusal logged with %v, want uid, gid and pid", f)
			}
		})
	}
}

func TestPeerOfReadsOwnCredentials(t *testing.T) {
	dir := socketDir(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("unix", filepath.Join(dir, "s"))
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := peerOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if p.UID != uint32(os.Geteuid()) || p.GID != uint32(os.Getegid()) || p.PID != int32(os.Getpid()) {
		t.Errorf("peer = %+v, want this process", p)
	}
	groups, _ := os.Getgroups()
	if len(p.Groups) != len(groups) {
		t.Errorf("peer groups %v, process groups %v", p.Groups, groups)
	}
}
