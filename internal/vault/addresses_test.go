package vault

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

// nodes answers each request by its host: "refuse" fails to connect, a
// number is the status answered (503 with Vault's sealed message). It
// records the hosts asked, in order.
type nodes struct {
	by    map[string]string
	asked []string
}

func (n *nodes) RoundTrip(r *http.Request) (*http.Response, error) {
	n.asked = append(n.asked, r.URL.Host)
	switch a := n.by[r.URL.Host]; a {
	case "refuse":
		return nil, &net0Error{syscall.ECONNREFUSED}
	case "503":
		return answer(r, 503, `{"errors":["Vault is sealed"]}`), nil
	case "500":
		return answer(r, 500, `{"errors":["internal error, token hvs.ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 echoed"]}`), nil
	case "400-sealed": // as a proxy in front of a sealed node might answer
		return answer(r, 400, `{"errors":["Vault is sealed"]}`), nil
	case "403":
		return answer(r, 403, `{"errors":["permission denied"]}`), nil
	default:
		return answer(r, 200, `{}`), nil
	}
}

type net0Error struct{ err error }

func (e *net0Error) Error() string { return "dial tcp: connect: " + e.err.Error() }
func (e *net0Error) Unwrap() error { return e.err }

func answer(r *http.Request, status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}
}

func newTestSelector(t *testing.T, n *nodes, addrs ...string) *Selector {
	t.Helper()
	s, err := NewSelector(addrs, time.Second, 10*time.Second, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send makes a request to the client's address (the first) through s and
// returns the host it reached.
func send(t *testing.T, s *Selector, n *nodes) (string, error) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPut, s.base.String()+"/v1/auth/token/renew-self", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.RoundTrip(r)
	if resp != nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && !strings.Contains(string(b), "sealed") {
			t.Errorf("the 503's body was not left for the client: %q", b)
		}
	}
	return n.asked[len(n.asked)-1], err
}

func states(s *Selector) string {
	var out []string
	for _, a := range s.Status() {
		out = append(out, a.State)
	}
	return strings.Join(out, ",")
}

// Each request goes to the first address not marked down; a refused
// connection, a sealed node's 503 and any 5xx mark it down, other answers
// (a 403 too) mark it up; once its cool-down is over the agent comes back
// to it.
func TestSelectorFailoverAndBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &nodes{by: map[string]string{"a:8200": "refuse", "b:8200": "503", "c:8200": "403"}}
		s := newTestSelector(t, n, "http://a:8200", "http://b:8200", "http://c:8200")
		if got := states(s); got != "unknown,unknown,unknown" {
			t.Fatalf("before any request: %s", got)
		}
		steps := []struct {
			wait   time.Duration // before the request
			host   string
			states string
		}{
			{0, "a:8200", "down,unknown,unknown"},
			{0, "b:8200", "down,down,unknown"},
			{0, "c:8200", "down,down,up"},
			{time.Second, "c:8200", "down,down,up"},
			// a's cool-down (2 s) is over: it is tried again, and fails again (4 s now).
			{time.Second, "a:8200", "down,down,up"},
			{0, "b:8200", "down,down,up"},
			{0, "c:8200", "down,down,up"},
		}
		for i, st := range steps {
			time.Sleep(st.wait)
			host, _ := send(t, s, n)
			if host != st.host || states(s) != st.states {
				t.Fatalf("step %d: asked %s, states %s; want %s, %s", i, host, states(s), st.host, st.states)
			}
		}
		if cur := s.Current(); cur != "http://c:8200" {
			t.Errorf("Current() = %s while a and b cool down, want http://c:8200", cur)
		}
		// a answers again when its 4 s are over: back to it.
		n.by["a:8200"] = "200"
		time.Sleep(4 * time.Second)
		if host, err := send(t, s, n); host != "a:8200" || err != nil {
			t.Fatalf("after a's cool-down: asked %s (%v), want a:8200", host, err)
		}
		st := s.Status()
		if st[0].State != AddressUp || st[0].LastError == "" || !st[0].Since.Equal(time.Now()) {
			t.Errorf("a after its return: %+v", st[0])
		}
		if st[1].LastError != "HTTP 503: Vault is sealed" {
			t.Errorf("b's last error: %q", st[1].LastError)
		}
		if host, _ := send(t, s, n); host != "a:8200" {
			t.Errorf("asked %s, want a:8200 for good", host)
		}
	})
}

// The cool-down: twice min after the first failure, doubled per failure,
// capped at max.
func TestSelectorCooldown(t *testing.T) {
	s := &Selector{min: time.Second, max: 10 * time.Second}
	for fails, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 4: 10 * time.Second, 60: 10 * time.Second} {
		if got := s.cooldown(fails); got != want {
			t.Errorf("cooldown(%d) = %v, want %v", fails, got, want)
		}
	}
}

// With every address down, the one whose cool-down ends first is asked;
// one address is always asked, as before there was a list.
func TestSelectorAllDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &nodes{by: map[string]string{"a:8200": "refuse", "b:8200": "refuse"}}
		s := newTestSelector(t, n, "http://a:8200", "http://b:8200")
		var asked []string
		for range 5 {
			host, err := send(t, s, n)
			if err == nil {
				t.Fatal("a refused connection gave no error")
			}
			asked = append(asked, host)
			time.Sleep(500 * time.Millisecond)
		}
		// a (2 s), b (2 s), a again (4 s from 2.0 s), b (4 s from 2.5 s), ...
		if got := strings.Join(asked, " "); got != "a:8200 b:8200 a:8200 b:8200 a:8200" {
			t.Errorf("asked %s", got)
		}

		one := &nodes{by: map[string]string{"a:8200": "refuse"}}
		s = newTestSelector(t, one, "http://a:8200")
		for range 3 {
			if host, _ := send(t, s, one); host != "a:8200" {
				t.Fatalf("one address: asked %s", host)
			}
		}
	})
}

// The error of a request sent elsewhere than the client's own address
// names the address asked; a 5xx's message in the status is redacted; a
// request its caller gave up on does not mark the address.
func TestSelectorErrorsAndStatus(t *testing.T) {
	n := &nodes{by: map[string]string{"a:8200": "500", "b:8200": "refuse"}}
	s := newTestSelector(t, n, "http://a:8200", "https://b:8200")
	if _, err := send(t, s, n); err != nil {
		t.Fatal(err)
	}
	st := s.Status()[0]
	if st.State != AddressDown || strings.Contains(st.LastError, "hvs.") || !strings.HasPrefix(st.LastError, "HTTP 500: internal error") {
		t.Errorf("a after a 500: %+v", st)
	}
	_, err := send(t, s, n)
	if err == nil || !strings.Contains(err.Error(), "sent to https://b:8200: ") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error of a request to b: %v", err)
	}

	n = &nodes{by: map[string]string{"a:8200": "400-sealed"}}
	s = newTestSelector(t, n, "http://a:8200", "http://b:8200")
	if _, err := send(t, s, n); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.State != AddressDown || st.LastError != "HTTP 400: Vault is sealed" {
		t.Errorf("a after a 400 that says it is sealed: %+v", st)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n = &nodes{by: map[string]string{"a:8200": "refuse"}}
	s = newTestSelector(t, n, "http://a:8200", "http://b:8200")
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a:8200/v1/sys/health", nil)
	if _, err := s.RoundTrip(r); err == nil {
		t.Fatal("no error")
	}
	if got := states(s); got != "unknown,unknown" {
		t.Errorf("after a cancelled request: %s", got)
	}
}

// Only requests to the client's address are moved (with the chosen
// address's path prefix); a redirect Vault sent goes where it says.
func TestSelectorRewrite(t *testing.T) {
	n := &nodes{by: map[string]string{"a:8200": "refuse"}}
	var paths []string
	rec := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		paths = append(paths, r.URL.Scheme+"://"+r.Host+r.URL.Path)
		return n.RoundTrip(r)
	})
	s, err := NewSelector([]string{"http://a:8200", "https://b:8443/vault"}, time.Second, time.Minute, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://a:8200/v1/sys/health", "http://a:8200/v1/sys/health", "http://active:8200/v1/sys/health"} {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		if resp, err := s.RoundTrip(r); err == nil {
			resp.Body.Close()
		}
	}
	want := "http://a:8200/v1/sys/health https://b:8443/vault/v1/sys/health http://active:8200/v1/sys/health"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("sent to\n%s\nwant\n%s", got, want)
	}
	if _, err := NewSelector([]string{"vault:8200"}, time.Second, time.Minute, rec, nil); err == nil {
		t.Error("an address without a scheme was taken")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A client NewClient makes over two addresses: the first answers 503
// sealed, so the call fails as transient (the lifecycle retries it), and
// the retry goes to the second, with the token, the body and the Host
// header the second expects.
func TestClientFailsOverBetweenCalls(t *testing.T) {
	sealed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"errors":["Vault is sealed"]}`))
	}))
	defer sealed.Close()
	var seen []string
	active := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Host+" "+r.URL.Path+" "+r.Header.Get("X-Vault-Token")+" "+string(b))
		_, _ = w.Write([]byte(`{"auth":{"client_token":"hvs.renewed","lease_duration":60,"renewable":true}}`))
	}))
	defer active.Close()

	c, err := NewClient(config.Vault{Addresses: []string{sealed.URL, active.URL}}, config.Lifecycle{MinBackoff: time.Second, MaxBackoff: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Op: "token renewal", Path: "auth/token/renew-self", Token: "hvs.current", Body: map[string]any{"increment": "60s"}, Refused: failure.RenewRefused}
	_, err = Call(context.Background(), c, r)
	if !errors.Is(err, failure.Unreachable) || !strings.Contains(err.Error(), "Vault is sealed") {
		t.Fatalf("the call to the sealed node: %v, want a transient failure saying it is sealed", err)
	}
	secret, err := Call(context.Background(), c, r)
	if err != nil || secret.Auth.ClientToken != "hvs.renewed" {
		t.Fatalf("the retry: %v, %+v", err, secret)
	}
	host := strings.TrimPrefix(active.URL, "http://")
	if want := host + ` /v1/auth/token/renew-self hvs.current {"increment":"60s"}`; len(seen) != 1 || seen[0] != want {
		t.Errorf("the second node got %q, want %q", seen, want)
	}
	st := SelectorOf(c).Status()
	if st[0].State != AddressDown || st[0].LastError != "HTTP 503: Vault is sealed" || st[1].State != AddressUp {
		t.Errorf("status: %+v", st)
	}
	if SelectorOf(c.WithRequestCallbacks(func(*api.Request) {})) != SelectorOf(c) {
		t.Error("a clone of the client has another selector")
	}
}
