package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

const (
	socketRequests    = 20000
	socketClients     = 8
	socketP99Goal     = 10 * time.Millisecond // eight clients queue on one core
	socketMinRPSGoal  = 2000.0
	socketWaitTimeout = 30 * time.Second
)

// measureSocketAPI runs the daemon with a socket sink on one core
// (GOMAXPROCS=1) and measures GET /v1/token over the unix socket: requests
// per second with a few concurrent clients, and the p99 latency.
func measureSocketAPI(ctx context.Context, e *env) ([]row, error) {
	dir, err := os.MkdirTemp("", "xa-bench-") // unix socket paths must stay short
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	cfg := fmt.Sprintf("vault {\n  address = %q\n}\nauth \"aws\" {\n  role = \"vault-role\"\n  header_value = %q\n}\nsink \"socket\" {\n  path = %q\n  allow_uids = [0]\n}\n",
		e.st.VaultAddr, stack.HeaderValue, sock)
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	var logs lockedBuffer
	cmd := exec.Command(filepath.Join(e.binDir, "xauth-agent"), "--config", cfgPath,
		"--state-dir", filepath.Join(dir, "state"), "--runtime-dir", filepath.Join(dir, "run"))
	cmd.Env = append(e.st.Instances["client1"].Env(), "GOMAXPROCS=1")
	cmd.Stderr = &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stopProcess(cmd, exited)

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: socketClients,
	}}
	get := func(ctx context.Context) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/v1/token", nil)
		req.Header.Set("X-Xauth-Request", "true")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(socketWaitTimeout)
	for {
		if code, err := get(ctx); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("socket API never served a token:\n%s", tail(logs.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}

	lat := make([]time.Duration, socketRequests)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	per := socketRequests / socketClients
	start := time.Now()
	for c := range socketClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c * per; i < (c+1)*per; i++ {
				t0 := time.Now()
				code, err := get(ctx)
				lat[i] = time.Since(t0)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if fail != nil {
		return nil, fmt.Errorf("GET /v1/token: %w", fail)
	}
	lat = lat[:per*socketClients]
	slices.Sort(lat)
	rps := float64(len(lat)) / elapsed.Seconds()
	p99 := percentile(lat, 99)
	e.note("socket API: %d GET /v1/token from %d concurrent clients over the unix socket, agent at GOMAXPROCS=1; p50 %s", len(lat), socketClients, ms(percentile(lat, 50)))
	// The memory goal is measured on the file-sink daemon; this one also
	// serves the socket, so its figure is shown, not judged.
	if status, err := procStatus(cmd.Process.Pid); err == nil {
		e.note("socket API daemon (socket sink) after the load: VmHWM %s, VmRSS %s (RssAnon %s, RssFile %s)",
			mib(status["VmHWM"]), mib(status["VmRSS"]), mib(status["RssAnon"]), mib(status["RssFile"]))
	}
	return []row{
		{metric: "GET /v1/token on one core (GOMAXPROCS=1), requests per second", agent: fmt.Sprintf("%.0f/s", rps),
			ref: "n/a (no token socket)", goal: fmt.Sprintf("≥ %.0f/s", socketMinRPSGoal), met: verdictOf(rps >= socketMinRPSGoal)},
		{metric: "GET /v1/token p99 latency", agent: ms(p99), ref: "n/a", goal: "≤ " + ms(socketP99Goal), met: verdictOf(p99 <= socketP99Goal)},
	}, nil
}
