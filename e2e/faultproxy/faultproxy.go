// Package faultproxy is a loopback HTTP reverse proxy that sits between
// xauth-agent and the e2e Vault server and fails on demand. Restarting the
// in-memory Vault would lose its state (mounts, roles, tokens), so the e2e
// tests simulate outages here instead: the agent is pointed at URL, and a
// test switches the proxy's behaviour at run time with Set.
//
// The modes:
//
//   - Pass forwards every request to the target (httputil.ReverseProxy; the
//     outbound Host is the target's, no X-Forwarded-* headers are added, and
//     an unreachable target is answered 502 with a Vault-style error body).
//   - Refuse is a dead server: the proxy closes its listening socket, so a
//     dial gets "connection refused", the way a client sees a stopped Vault.
//     Leaving Refuse listens again on the same 127.0.0.1 port (Go sets
//     SO_REUSEADDR, so the TIME_WAIT sockets of the cut connections do not
//     block it), which keeps URL valid for the proxy's whole life. If the
//     port cannot be bound again within a few seconds (another process took
//     it meanwhile), Set panics, since the test cannot go on meaningfully.
//   - Hang accepts connections and reads requests but never answers. A hung
//     request ends when its client gives up, when Close is called, or when a
//     later Set changes the fault: it is then handled under the new fault
//     (forwarded late after Set(Fault{Mode: Pass}), cut after Refuse), like
//     a stalled server that recovers.
//   - Status answers every request with a fixed status (503 when zero), a
//     Retry-After header when set, and a Vault-style JSON body
//     {"errors":["..."]}, without contacting the target.
//   - Latency forwards each request after a delay.
//   - Echo answers every request with a fixed status (503 when zero) and the
//     request itself (its headers and body, as text), without contacting the
//     target: a misbehaving proxy or debugging endpoint that hands back what
//     it was sent, token and signed headers included.
//
// A real outage kills the connections that exist, not only new ones, so
// switching into Refuse or Hang from another mode closes every client
// connection the proxy has open (tracked with http.Server.ConnState); a
// keep-alive connection opened during Pass cannot slip a request past the
// outage. Status and Latency leave connections open, as a load balancer
// answering 503 would.
//
// The proxy counts the requests that reach it (every mode but Refuse), in
// total and by URL path, for assertions such as "no more than three logins
// during the outage". Request bodies are read in full before the fault is
// applied, so a client that gives up on a hung or delayed request is noticed
// at once and its request is never forwarded afterwards.
//
// A Proxy is safe for concurrent use. Close stops it and waits for every
// goroutine it started.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Mode is what the proxy does with connections and requests.
type Mode int

const (
	// Pass forwards requests to the target.
	Pass Mode = iota
	// Refuse closes the listening socket and every open connection:
	// clients get "connection refused".
	Refuse
	// Hang reads requests and never answers until the fault changes, the
	// client gives up or the proxy is closed.
	Hang
	// Status answers every request with Fault.Status and a Vault-style
	// error body.
	Status
	// Latency forwards requests after Fault.Delay.
	Latency
	// Echo answers every request with Fault.Status and the request itself.
	Echo
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Refuse:
		return "refuse"
	case Hang:
		return "hang"
	case Status:
		return "status"
	case Latency:
		return "latency"
	case Echo:
		return "echo"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Fault is the proxy's behaviour. The zero Fault is Pass.
type Fault struct {
	Mode Mode
	// Status is the status Status and Echo modes answer with; zero means 503.
	Status int
	// RetryAfter, when not empty, is sent as the Retry-After header in
	// Status mode, e.g. "30".
	RetryAfter string
	// Delay is how long Latency mode waits before forwarding.
	Delay time.Duration
}

const (
	// rebindFor is how long leaving Refuse keeps trying to listen on the
	// proxy's port again.
	rebindFor = 3 * time.Second
	// maxBody bounds a buffered request body; Vault's own default
	// max_request_size is 32 MiB.
	maxBody = 32 << 20
)

// Proxy is a running fault-injecting proxy. Create it with Start.
type Proxy struct {
	addr      string // 127.0.0.1:port, the same for the proxy's whole life
	target    *url.URL
	srv       *http.Server
	forward   *httputil.ReverseProxy
	transport *http.Transport
	done      chan struct{} // closed by Close

	serving  sync.WaitGroup // srv.Serve calls, one per listening period
	handlers sync.WaitGroup // requests being handled

	mu      sync.Mutex
	fault   Fault
	changed chan struct{} // closed and replaced by every Set
	ln      net.Listener  // nil while refusing and after Close
	conns   map[net.Conn]struct{}
	closed  bool
	total   int64
	byPath  map[string]int64
}

// Start listens on 127.0.0.1 on a free port and forwards to target, an
// http:// base URL such as "http://127.0.0.1:8200". The proxy starts in Pass.
func Start(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q: want an http://host:port URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on loopback: %w", err)
	}
	p := &Proxy{
		addr:    ln.Addr().String(),
		target:  u,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
		byPath:  make(map[string]int64),
	}
	p.transport = &http.Transport{
		Proxy:               nil, // never an HTTP_PROXY from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true, // pass bodies through as the target sent them
	}
	p.forward = &httputil.ReverseProxy{
		Rewrite:      func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:    p.transport,
		ErrorHandler: p.upstreamError,
	}
	p.srv = &http.Server{
		Handler:   http.HandlerFunc(p.serveHTTP),
		ConnState: p.trackConn,
	}
	p.mu.Lock()
	p.serve(ln)
	p.mu.Unlock()
	return p, nil
}

// URL is the proxy's base URL, "http://127.0.0.1:<port>". It stays valid
// across every fault, Refuse included.
func (p *Proxy) URL() string {
	return "http://" + p.addr
}

// Set switches the proxy to f; it applies to requests that arrive from now
// on and to requests held by Hang. Switching into Refuse or Hang from another
// mode closes every open client connection. Set panics on a Mode it does not
// know, on a Status outside 200-599, and when leaving Refuse cannot listen on
// the proxy's port again. After Close, Set does nothing.
func (p *Proxy) Set(f Fault) {
	if f.Mode < Pass || f.Mode > Echo {
		panic(fmt.Sprintf("faultproxy: unknown mode %d", int(f.Mode)))
	}
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	if f.Status < 200 || f.Status > 599 {
		panic(fmt.Sprintf("faultproxy: status %d: want 200-599", f.Status))
	}
	f.Delay = max(f.Delay, 0)

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	prev := p.fault.Mode
	p.fault = f
	close(p.changed)
	p.changed = make(chan struct{})

	// Stop accepting before cutting connections, so none slips in between.
	if f.Mode == Refuse && p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	if f.Mode != Refuse && p.ln == nil {
		p.serve(p.relisten())
	}
	if (f.Mode == Refuse || f.Mode == Hang) && f.Mode != prev {
		for c := range p.conns {
			c.Close()
		}
	}
}

// Requests is how many requests have reached the proxy since Start or the
// last ResetCounts, in every mode but Refuse.
func (p *Proxy) Requests() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// RequestsByPath is Requests by URL path, e.g.
// {"/v1/auth/aws/login": 3, "/v1/auth/token/renew-self": 5}. The map is a
// copy.
func (p *Proxy) RequestsByPath() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.byPath)
}

// ResetCounts sets Requests and RequestsByPath back to zero.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = 0
	clear(p.byPath)
}

// Close stops listening, cuts every connection, ends hung and delayed
// requests, and returns once all the proxy's goroutines have finished. It
// may be called more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.ln = nil // srv.Close closes it
	p.mu.Unlock()

	p.srv.Close()
	p.serving.Wait()
	p.handlers.Wait()
	p.transport.CloseIdleConnections()
}

// serve starts serving on ln. p.mu is held.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.serving.Go(func() {
		// Serve returns when ln is closed, by Set(Refuse) or by Close.
		_ = p.srv.Serve(ln)
	})
}

// relisten listens on the proxy's port again after Refuse. p.mu is held.
func (p *Proxy) relisten() net.Listener {
	deadline := time.Now().Add(rebindFor)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("faultproxy: leaving refuse: cannot listen on %s again: %v", p.addr, err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trackConn keeps the set of open client connections for Set to cut.
func (p *Proxy) trackConn(c net.Conn, state http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch state {
	case http.StateNew:
		if p.closed || p.ln == nil {
			// Accepted in the instant before Set(Refuse) closed the
			// listener: a refusing server has no connections.
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// arrive counts a request and returns the fault to apply and the channel
// that the next Set closes. It returns ok false, without counting, when the
// proxy refuses or is closed; otherwise the caller must call
// p.handlers.Done when it is finished.
func (p *Proxy) arrive(path string) (f Fault, changed <-chan struct{}, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.fault.Mode == Refuse {
		return Fault{}, nil, false
	}
	p.handlers.Add(1)
	p.total++
	p.byPath[path]++
	return p.fault, p.changed, true
}

func (p *Proxy) current() (Fault, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault, p.changed
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f, changed, ok := p.arrive(r.URL.Path)
	if !ok {
		panic(http.ErrAbortHandler) // close the connection without a response
	}
	defer p.handlers.Done()

	// With the body read, net/http watches the connection, so r.Context()
	// ends as soon as the client hangs up, even while the request is held.
	if err := bufferBody(w, r); err != nil {
		panic(http.ErrAbortHandler)
	}
	for {
		switch f.Mode {
		case Refuse:
			panic(http.ErrAbortHandler)
		case Hang:
			select {
			case <-changed:
				f, changed = p.current()
				continue
			case <-r.Context().Done():
			case <-p.done:
			}
			panic(http.ErrAbortHandler)
		case Status:
			writeStatus(w, f)
		case Latency:
			if !p.sleep(r.Context(), f.Delay) {
				panic(http.ErrAbortHandler)
			}
			p.forward.ServeHTTP(w, r)
		case Echo:
			writeEcho(w, r, f.Status)
		default:
			p.forward.ServeHTTP(w, r)
		}
		return
	}
}

// sleep waits for d and reports whether it did, rather than seeing the
// request or the proxy end first.
func (p *Proxy) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-p.done:
	}
	return false
}

func bufferBody(w http.ResponseWriter, r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	r.Body.Close()
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return nil
}

// writeStatus answers the way Vault reports errors: a JSON object with an
// "errors" list.
func writeStatus(w http.ResponseWriter, f Fault) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	w.WriteHeader(f.Status)
	writeErrors(w, fmt.Sprintf("faultproxy: injected %d %s", f.Status, http.StatusText(f.Status)))
}

// writeEcho answers with status and r itself, headers and body, as text.
func writeEcho(w http.ResponseWriter, r *http.Request, status int) {
	dump, err := httputil.DumpRequest(r, true)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(dump)
}

// upstreamError answers 502 when the target cannot be reached in Pass or
// Latency mode, as a load balancer in front of a dead Vault would.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		panic(http.ErrAbortHandler) // the client is gone or the proxy is closing
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	writeErrors(w, fmt.Sprintf("faultproxy: forward to %s: %v", p.target.Host, err))
}

func writeErrors(w io.Writer, msg string) {
	_ = json.NewEncoder(w).Encode(struct {
		Errors []string `json:"errors"`
	}{[]string{msg}})
}
