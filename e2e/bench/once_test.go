package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

const (
	onceRuns   = 25 // timed runs of each client, alternating; the goal asks for at least 10
	onceRole   = "vault-role"
	sizeGoal   = 15 << 20
	onceBudget = 30 * time.Second // one login, whoever runs it
)

// client is one way of logging in once, run as a process.
type client struct {
	name string
	bin  string
	args []string
	env  []string
}

// measureOnce times `xauth-agent --once` (credentials from AWS_* and from
// IMDSv2) against the reference client, alternating the three so drift in
// the machine's load hits them alike, and compares the binaries' sizes.
func measureOnce(ctx context.Context, e *env) ([]row, error) {
	ref, err := buildReference(ctx, e.tmp)
	if err != nil {
		return nil, err
	}
	in := e.st.Instances["client1"]
	credsEnv := append(in.CredsEnv(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"HOME="+e.tmp, "PATH="+os.Getenv("PATH"), "VAULT_ADDR="+e.st.VaultAddr)
	agent := filepath.Join(e.binDir, "xauth-agent")
	agentArgs := []string{"--once", "--role", onceRole, "--header-value", stack.HeaderValue}
	clients := []client{
		{"xauth-agent (env)", agent, agentArgs, credsEnv},
		{"reference", ref, []string{"-role", onceRole, "-header-value", stack.HeaderValue}, credsEnv},
		{"xauth-agent (IMDSv2)", agent, agentArgs, append(in.Env(), "VAULT_ADDR="+e.st.VaultAddr)},
	}
	times := make([][]time.Duration, len(clients))
	// One untimed round first: page the binaries in, warm Vault's caches.
	for round := -1; round < onceRuns; round++ {
		for k := range clients {
			i := (k + max(round, 0)) % len(clients) // rotate who goes first
			c := clients[i]
			d, token, err := runClient(ctx, c)
			if err != nil {
				return nil, err
			}
			if round == -1 {
				if err := checkToken(ctx, e.st, token); err != nil {
					return nil, fmt.Errorf("%s: the token it printed: %w", c.name, err)
				}
				continue
			}
			times[i] = append(times[i], d)
		}
	}
	// Each round ran both clients back to back: the per-round difference
	// cancels most of the drift in the machine's load.
	diffs := make([]time.Duration, onceRuns)
	for r := range diffs {
		diffs[r] = times[0][r] - times[1][r]
	}
	paired := median(diffs)
	agentEnv, refMed, agentIMDS := median(times[0]), median(times[1]), median(times[2]) // sorts each list
	e.note("--once wall time, p25–p75 of %d runs: xauth-agent (AWS_*) %s–%s, reference %s–%s, xauth-agent (IMDSv2) %s–%s; median per-round difference xauth-agent (AWS_*) − reference: %+.1f ms",
		onceRuns, ms(percentile(times[0], 25)), ms(percentile(times[0], 75)), ms(percentile(times[1], 25)), ms(percentile(times[1], 75)),
		ms(percentile(times[2], 25)), ms(percentile(times[2], 75)), float64(paired)/float64(time.Millisecond))

	agentSize, err := fileSize(agent)
	if err != nil {
		return nil, err
	}
	refSize, err := fileSize(ref)
	if err != nil {
		return nil, err
	}
	runs := fmt.Sprintf("median of %d alternating", onceRuns)
	return []row{
		{
			metric: "--once wall time, AWS_* creds (" + runs + ")",
			agent:  ms(agentEnv), ref: ms(refMed), ratio: ratio(float64(agentEnv), float64(refMed)),
			goal: "≤ reference", met: verdictOf(agentEnv <= refMed),
		},
		{
			metric: "--once wall time, IMDSv2 creds (" + runs + ")",
			agent:  ms(agentIMDS), ref: ms(refMed) + " (AWS_*)", ratio: ratio(float64(agentIMDS), float64(refMed)),
		},
		{
			metric: "binary size (static, -trimpath -ldflags \"-s -w\")",
			agent:  mib(agentSize), ref: mib(refSize), ratio: ratio(float64(agentSize), float64(refSize)),
			goal: "≤ 15 MiB", met: verdictOf(agentSize <= sizeGoal),
		},
	}, nil
}

// buildReference builds cmd/reflogin static and stripped, as make build
// builds bin/xauth-agent.
func buildReference(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "reflogin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "../cmd/reflogin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the reference client: %w\n%s", err, b)
	}
	return out, nil
}

// runClient runs c once and returns its wall time (fork to exit) and the
// token it printed.
func runClient(ctx context.Context, c client) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(ctx, onceBudget)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, c.args...)
	cmd.Env = c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w\n%s", c.name, err, stderr.String())
	}
	token := strings.TrimSpace(stdout.String())
	if token == "" {
		return 0, "", fmt.Errorf("%s printed no token", c.name)
	}
	return d, token, nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
