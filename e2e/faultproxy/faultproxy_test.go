package faultproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests run real sockets, which testing/synctest cannot bubble, so the
// few waits for an effect that the API does not signal poll a condition
// with a deadline (waitFor) instead of sleeping a fixed time.

// newBackend stands in for Vault: it answers 201 with the request it saw.
func newBackend(t *testing.T) *httptest.Server {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "vault")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s host=%s token=%s xff=%q body=%s",
			r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Vault-Token"), r.Header.Get("X-Forwarded-For"), body)
	}))
	t.Cleanup(b.Close)
	return b
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// newClient has its own transport, so that no test reuses another's
// keep-alive connections.
func newClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, c *http.Client, url string) (reply, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{resp.StatusCode, resp.Header, string(b)}, nil
}

func mustGet(t *testing.T, c *http.Client, url string) reply {
	t.Helper()
	r, err := get(t, c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartRejectsBadTargets(t *testing.T) {
	for _, target := range []string{"127.0.0.1:8200", "https://127.0.0.1:8200", "http://", "::"} {
		if p, err := Start(target); err == nil {
			p.Close()
			t.Errorf("Start(%q): no error", target)
		}
	}
}

func TestPassForwards(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b.URL)
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q, want http://127.0.0.1:<port>", p.URL())
	}

	req, _ := http.NewRequest("POST", p.URL()+"/v1/auth/aws/login?x=1", strings.NewReader(`{"role":"web"}`))
	req.Header.Set("X-Vault-Token", "hvs.test")
	resp, err := newClient(t, 5*time.Second).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status %d, want 201", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Backend"); got != "vault" {
		t.Errorf("X-Backend %q, want vault", got)
	}
	backendHost := strings.TrimPrefix(b.URL, "http://")
	want := `POST /v1/auth/aws/login?x=1 host=` + backendHost + ` token=hvs.test xff="" body={"role":"web"}`
	if string(body) != want {
		t.Errorf("backend saw\n%s\nwant\n%s", body, want)
	}
}

func TestPassUnreachableTargetIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	p := newProxy(t, dead)

	r := mustGet(t, newClient(t, 5*time.Second), p.URL()+"/v1/sys/health")
	if r.status != http.StatusBadGateway || !strings.HasPrefix(r.body, `{"errors":["faultproxy: forward to `) {
		t.Errorf("got %d %s, want 502 with a Vault-style error", r.status, r.body)
	}
}

func TestRefuse(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	c := newClient(t, 5*time.Second)
	mustGet(t, c, p.URL()+"/v1/sys/health")

	p.Set(Fault{Mode: Refuse})
	p.ResetCounts()
	start := time.Now()
	_, err := get(t, newClient(t, 5*time.Second), p.URL()+"/v1/sys/health")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("GET during Refuse: %v, want connection refused", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
	if n := p.Requests(); n != 0 {
		t.Errorf("Requests() = %d during Refuse, want 0", n)
	}

	url := p.URL()
	p.Set(Fault{Mode: Pass})
	if p.URL() != url {
		t.Fatalf("URL changed from %s to %s", url, p.URL())
	}
	if r := mustGet(t, c, url+"/v1/sys/health"); r.status != http.StatusCreated {
		t.Errorf("after Refuse -> Pass: status %d, want 201", r.status)
	}

	// A second outage on the same port works as well.
	p.Set(Fault{Mode: Refuse})
	if _, err := get(t, newClient(t, 5*time.Second), url); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("second Refuse: %v, want connection refused", err)
	}
	p.Set(Fault{})
	mustGet(t, c, url)
}

func TestHang(t *testing.T) {
	before := runtime.NumGoroutine()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	p, err := Start(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: nil}

	p.Set(Fault{Mode: Hang})
	_, err = get(t, &http.Client{Transport: tr, Timeout: 200 * time.Millisecond}, p.URL()+"/v1/auth/token/renew-self")
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("GET during Hang: %v, want a client timeout", err)
	}
	if n := p.Requests(); n != 1 {
		t.Errorf("Requests() = %d, want 1 (a hung request reaches the proxy)", n)
	}

	p.Set(Fault{Mode: Pass})
	if r := mustGet(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, p.URL()); r.body != "ok" {
		t.Errorf("after Hang -> Pass: body %q, want ok", r.body)
	}

	// Close ends a request that is still hung, promptly.
	p.Set(Fault{Mode: Hang})
	errc := make(chan error, 1)
	go func() {
		_, err := get(t, &http.Client{Transport: tr, Timeout: time.Minute}, p.URL()+"/held")
		errc <- err
	}()
	waitFor(t, "the request to be held", func() bool { return p.RequestsByPath()["/held"] == 1 })
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a request hung")
	}
	if err := <-errc; err == nil {
		t.Error("the hung request succeeded after Close, want an error")
	}
	p.Set(Fault{}) // no-op after Close
	p.Close()      // idempotent

	tr.CloseIdleConnections()
	b.Close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestHangThenPassForwardsHeldRequest(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	p.Set(Fault{Mode: Hang})

	type result struct {
		r   reply
		err error
	}
	c := newClient(t, 10*time.Second)
	done := make(chan result, 1)
	go func() {
		r, err := get(t, c, p.URL()+"/v1/auth/aws/login")
		done <- result{r, err}
	}()
	waitFor(t, "the request to be held", func() bool { return p.Requests() == 1 })
	select {
	case res := <-done:
		t.Fatalf("answered during Hang: %+v", res)
	default:
	}

	p.Set(Fault{Mode: Pass})
	res := <-done
	if res.err != nil || res.r.status != http.StatusCreated {
		t.Fatalf("held request after Set(Pass): %+v", res)
	}
	if n := p.Requests(); n != 1 {
		t.Errorf("Requests() = %d, want 1 (a released request is not counted twice)", n)
	}
}

func TestStatus(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	c := newClient(t, 5*time.Second)

	cases := []struct {
		name       string
		fault      Fault
		status     int
		retryAfter string
		body       string
	}{
		{"503 with Retry-After", Fault{Mode: Status, Status: 503, RetryAfter: "30"},
			503, "30", `{"errors":["faultproxy: injected 503 Service Unavailable"]}` + "\n"},
		{"zero status is 503", Fault{Mode: Status},
			503, "", `{"errors":["faultproxy: injected 503 Service Unavailable"]}` + "\n"},
		{"429 without Retry-After", Fault{Mode: Status, Status: 429},
			429, "", `{"errors":["faultproxy: injected 429 Too Many Requests"]}` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.Set(tc.fault)
			r := mustGet(t, c, p.URL()+"/v1/auth/token/renew-self")
			if r.status != tc.status {
				t.Errorf("status %d, want %d", r.status, tc.status)
			}
			if got := r.header.Values("Retry-After"); tc.retryAfter == "" && len(got) != 0 ||
				tc.retryAfter != "" && (len(got) != 1 || got[0] != tc.retryAfter) {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			if r.header.Get("X-Backend") != "" {
				t.Error("the backend answered, want the proxy to")
			}
			if r.body != tc.body {
				t.Errorf("body %q, want %q", r.body, tc.body)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	c := newClient(t, 5*time.Second)
	const delay = 150 * time.Millisecond
	p.Set(Fault{Mode: Latency, Delay: delay})

	start := time.Now()
	r := mustGet(t, c, p.URL()+"/v1/sys/health")
	if d := time.Since(start); d < delay {
		t.Errorf("answered after %v, want at least %v", d, delay)
	}
	if r.status != http.StatusCreated || r.header.Get("X-Backend") != "vault" {
		t.Errorf("got %d from %q, want 201 forwarded from the backend", r.status, r.header.Get("X-Backend"))
	}
}

func TestEcho(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	c := newClient(t, 5*time.Second)
	p.Set(Fault{Mode: Echo, Status: http.StatusForbidden})
	req, err := http.NewRequest(http.MethodPut, p.URL()+"/v1/auth/token/renew-self", strings.NewReader(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", "hvs.echoed")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Backend") != "" {
		t.Fatalf("got %d (backend %q), want 403 from the proxy", resp.StatusCode, resp.Header.Get("X-Backend"))
	}
	for _, want := range []string{"PUT /v1/auth/token/renew-self HTTP/1.1", "X-Vault-Token: hvs.echoed", `{"x":1}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("echo lacks %q:\n%s", want, b)
		}
	}
}

func TestCounts(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	c := newClient(t, 5*time.Second)
	const login, renew = "/v1/auth/aws/login", "/v1/auth/token/renew-self"

	mustGet(t, c, p.URL()+login)
	mustGet(t, c, p.URL()+renew+"?q=1")
	p.Set(Fault{Mode: Status, Status: 503})
	mustGet(t, c, p.URL()+renew)
	mustGet(t, c, p.URL()+login)
	p.Set(Fault{Mode: Latency, Delay: time.Millisecond})
	mustGet(t, c, p.URL()+renew)
	p.Set(Fault{Mode: Refuse})
	if _, err := get(t, c, p.URL()+login); err == nil {
		t.Fatal("GET during Refuse succeeded")
	}
	p.Set(Fault{Mode: Pass})

	if n := p.Requests(); n != 5 {
		t.Errorf("Requests() = %d, want 5", n)
	}
	got := p.RequestsByPath()
	if len(got) != 2 || got[login] != 2 || got[renew] != 3 {
		t.Errorf("RequestsByPath() = %v, want %s: 2, %s: 3", got, login, renew)
	}
	got[login] = 100 // a copy: the proxy's counts do not change
	if p.RequestsByPath()[login] != 2 {
		t.Error("RequestsByPath returned the proxy's own map")
	}

	p.ResetCounts()
	if n, m := p.Requests(), p.RequestsByPath(); n != 0 || len(m) != 0 {
		t.Errorf("after ResetCounts: %d, %v; want 0 and empty", n, m)
	}
	mustGet(t, c, p.URL()+renew)
	if n, m := p.Requests(), p.RequestsByPath(); n != 1 || m[renew] != 1 {
		t.Errorf("after one more request: %d, %v", n, m)
	}
}

// A real outage kills the connections that exist: a keep-alive connection
// opened during Pass must not carry requests past Refuse or Hang.
func TestOutageCutsKeepAliveConnections(t *testing.T) {
	for _, mode := range []Mode{Refuse, Hang} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newProxy(t, newBackend(t).URL)
			conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL(), "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			if _, err := io.WriteString(conn, "GET /v1/sys/health HTTP/1.1\r\nHost: vault\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated || resp.Close {
				t.Fatalf("first response: %d, close=%v; want 201 on a kept-alive connection", resp.StatusCode, resp.Close)
			}

			p.Set(Fault{Mode: mode})
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = br.ReadByte()
			var nerr net.Error
			if err == nil || errors.As(err, &nerr) && nerr.Timeout() {
				t.Fatalf("read on the kept-alive connection after Set(%v): %v, want it closed", mode, err)
			}
		})
	}
}

func TestSetRejectsBadFaults(t *testing.T) {
	p := newProxy(t, newBackend(t).URL)
	for _, f := range []Fault{{Mode: Mode(42)}, {Mode: Status, Status: 42}, {Mode: Status, Status: 600}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Set(%+v) did not panic", f)
				}
			}()
			p.Set(f)
		}()
	}
}

// A client that gives up on a held request with a body is noticed while the
// request is held, so the request is not forwarded when the outage ends.
func TestHangAbandonedRequestIsNotForwardedLater(t *testing.T) {
	hits := make(chan string, 10)
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.URL.Path
	}))
	t.Cleanup(b.Close)
	p := newProxy(t, b.URL)
	p.Set(Fault{Mode: Hang})

	c := newClient(t, 200*time.Millisecond)
	if _, err := c.Post(p.URL()+"/v1/auth/aws/login", "application/json", strings.NewReader(`{"role":"web"}`)); err == nil {
		t.Fatal("POST during Hang succeeded")
	}
	waitFor(t, "the abandoned request to end", func() bool { return p.openConns() == 0 })
	p.Set(Fault{Mode: Pass})
	mustGet(t, newClient(t, 5*time.Second), p.URL()+"/after")
	if got := <-hits; got != "/after" {
		t.Errorf("backend saw %s first, want only /after", got)
	}
}

func (p *Proxy) openConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
