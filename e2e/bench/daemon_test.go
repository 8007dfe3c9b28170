package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/faultproxy"
	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

const (
	daemonRole   = "bench-daemon"
	daemonTTL    = "4s"             // a renewal about every 2.7 s (two thirds of the lease)
	daemonMaxTTL = "1h"             // no re-login while measuring
	daemonRun    = 30 * time.Second // of renewals, from the first, before memory is read
	renewPath    = "/v1/auth/token/renew-self"
	loginPath    = "/v1/auth/" + stack.Mount + "/login"
	lookupPath   = "/v1/auth/token/lookup-self"
	rssGoal      = 27 << 19 // 13.5 MiB
	cpuGoal      = 5 * time.Millisecond
	// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
	// 100 on every Linux architecture Go supports.
	clockTick = 10 * time.Millisecond
)

// measureDaemon runs the agent as a daemon (IMDSv2 credentials through the
// AWS SDK's chain, a file sink) through a pass-through proxy that counts its
// renewals, and reads its memory and CPU time from /proc after daemonRun of
// renewals.
func measureDaemon(ctx context.Context, e *env) ([]row, error) {
	if _, err := e.st.Vault.Logical().WriteWithContext(ctx, "auth/"+stack.Mount+"/role/"+daemonRole, map[string]any{
		"auth_type": "iam", "policies": "admin",
		"bound_iam_principal_arn": "arn:aws:iam::222222222222:role/vault-secondary*",
		"token_ttl":               daemonTTL, "token_max_ttl": daemonMaxTTL,
	}); err != nil {
		return nil, err
	}
	proxy, err := faultproxy.Start(e.st.VaultAddr)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()

	file := filepath.Join(e.tmp, "daemon-token")
	var logs lockedBuffer
	cmd := exec.Command(filepath.Join(e.binDir, "xauth-agent"), "--vault-addr", proxy.URL(), "--role", daemonRole,
		"--header-value", stack.HeaderValue, "--sink-file", file,
		"--state-dir", filepath.Join(e.tmp, "daemon-state"), "--runtime-dir", filepath.Join(e.tmp, "daemon-run"))
	cmd.Env = e.st.Instances["client1"].Env()
	cmd.Stderr = &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer stopProcess(cmd, exited)
	pid := cmd.Process.Pid

	// CPU time is read as each renewal is counted: from the first to the
	// last within daemonRun.
	var cpu1, cpuN, sched1, schedN time.Duration
	var seen int64 // renewals counted so far
	var end <-chan time.Time
	deadline := time.After(daemonRun + 60*time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("the daemon exited (%v):\n%s", err, tail(logs.String(), 20))
		case <-deadline:
			return nil, fmt.Errorf("no renewal within 60s (saw %v):\n%s", proxy.RequestsByPath(), tail(logs.String(), 20))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			done = true
			continue
		case <-tick.C:
		}
		n := proxy.RequestsByPath()[renewPath]
		if n == seen {
			continue
		}
		if n > seen+1 {
			return nil, fmt.Errorf("missed renewal %d: polling too slowly", seen+1)
		}
		cpu, err := cpuTime(pid)
		if err != nil {
			return nil, err
		}
		seen = n
		if n == 1 {
			cpu1, sched1 = cpu, schedTime(pid)
			end = time.After(daemonRun)
		} else {
			cpuN, schedN = cpu, schedTime(pid)
		}
	}
	status, err := procStatus(pid)
	if err != nil {
		return nil, err
	}
	maps, err := smapsByMapping(pid)
	if err != nil {
		return nil, err
	}
	token, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if err := checkToken(ctx, e.st, string(token)); err != nil {
		return nil, fmt.Errorf("the daemon's sink: %w", err)
	}
	logins := proxy.RequestsByPath()[loginPath]
	if seen < 3 {
		return nil, fmt.Errorf("only %d renewals in %v", seen, daemonRun)
	}

	cycles := time.Duration(seen - 1)
	perCycle := (cpuN - cpu1) / cycles
	hwm, rss, anon, rssFile := status["VmHWM"], status["VmRSS"], status["RssAnon"], status["RssFile"]
	e.note("daemon: role token_ttl %s, token_max_ttl %s; %d login(s), %d renewals in the %v after the first; VmHWM %s; resident by mapping (/proc/<pid>/smaps): %s",
		daemonTTL, daemonMaxTTL, logins, seen, daemonRun, mib(hwm), maps)
	e.note("daemon CPU: /proc/<pid>/stat counts in %v ticks, so over %d cycles the figure is ±%s; the same interval by schedstat (ns, all threads): %s per cycle",
		clockTick, cycles, ms(clockTick/cycles), ms((schedN-sched1)/cycles))
	return []row{
		{
			metric: fmt.Sprintf("daemon memory after %v of %s-TTL renewals: VmRSS (RssAnon + RssFile)", daemonRun, daemonTTL),
			agent:  fmt.Sprintf("%s (%s + %s)", mib(rss), mib(anon), mib(rssFile)), ref: "n/a (no daemon)",
			goal: "VmRSS ≤ 13.5 MiB", met: verdictOf(rss <= rssGoal),
		},
		{
			metric: fmt.Sprintf("daemon CPU per renewal cycle, (utime+stime) renewal 1→%d ÷ %d", seen, cycles),
			agent:  ms(perCycle), ref: "n/a (no daemon)",
			goal: "≤ " + ms(cpuGoal), met: verdictOf(perCycle <= cpuGoal),
		},
	}, nil
}

// smapsByMapping sums the resident memory of pid's mappings
// (/proc/<pid>/smaps) by what they map: the binary's file (by its
// permissions: text r-x, read-only data r--, data rw-), anonymous memory
// (the Go heap, stacks and runtime metadata), and the rest.
func smapsByMapping(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return "", err
	}
	sums := map[string]int64{}
	var order []string
	var cur string
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			switch {
			case len(f) >= 6 && strings.HasPrefix(f[5], "/"):
				cur = filepath.Base(f[5]) + " " + f[1][:3]
			case len(f) >= 6:
				cur = f[5] // [stack], [vdso], ...
			default:
				cur = "anonymous"
			}
			if _, ok := sums[cur]; !ok {
				order = append(order, cur)
				sums[cur] = 0
			}
			continue
		}
		if len(f) == 3 && f[0] == "Rss:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sums[cur] += n << 10
		}
	}
	var parts []string
	for _, k := range order {
		if sums[k] >= 64<<10 {
			parts = append(parts, k+" "+mib(sums[k]))
		}
	}
	return strings.Join(parts, ", "), nil
}

// stopProcess sends SIGTERM, and SIGKILL when the process is still there
// after 5 s. exited delivers cmd.Wait's result.
func stopProcess(cmd *exec.Cmd, exited chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// cpuTime is utime+stime of pid, all threads, from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it start at state (field 3).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// schedTime is the time pid's threads have run, in nanoseconds, from
// /proc/<pid>/task/*/schedstat; 0 when the kernel does not provide it.
func schedTime(pid int) time.Duration {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(n)
		}
	}
	return total
}

// procStatus reads the kB figures of /proc/<pid>/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for l := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(l, ":")
		v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB")
		if !ok || !isKB {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	for _, k := range []string{"VmHWM", "VmRSS", "RssAnon", "RssFile"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}

// checkToken asks Vault (directly, not through any proxy) whether token is
// valid.
func checkToken(ctx context.Context, st *stack.Stack, token string) error {
	c, err := st.Vault.Clone()
	if err != nil {
		return err
	}
	c.SetToken(token)
	if _, err := c.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return fmt.Errorf("lookup-self: %w", err)
	}
	return nil
}
