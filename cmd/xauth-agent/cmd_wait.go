package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
)

const waitUsage = `Usage: xauth-agent wait [--socket PATH] [--timeout 60s]

Blocks until the agent holds a valid token (GET /v1/health answers 200),
then exits 0 without output. It keeps trying while the agent is not up yet
or still logging in, so a dependent unit can use it as

  ExecStartPre=/usr/bin/xauth-agent wait --timeout 2m

--timeout 0 waits without limit (systemd's TimeoutStartSec= still applies).
On timeout it names the last reason and exits 4. A caller the agent
refuses exits 5 at once: waiting cannot fix that.

The socket is --socket, else $` + socketEnv + `, else ` + localapi.DefaultSocket + `.

Flags:
`

// runWaitCmd is "xauth-agent wait".
func runWaitCmd(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("xauth-agent wait", flag.ContinueOnError)
	socket := apiSocketFlag(fs)
	timeout := fs.Duration("timeout", time.Minute, "give up after this `duration`; 0 waits without limit")
	verb, err := parseAPICmd(fs, args, waitUsage, stderr)
	if err == nil && verb != "" {
		err = fmt.Errorf("unexpected argument %q", verb)
	}
	if err == nil && *timeout < 0 {
		err = fmt.Errorf("--timeout %v: must not be negative", *timeout)
	}
	if err != nil {
		return apiUsageExit(err, "wait", stderr)
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	err = (&localapi.Client{Socket: *socket}).WaitHealthy(ctx)
	var we *localapi.WaitError
	switch {
	case err == nil:
		return failure.ExitOK
	case errors.As(err, &we) && errors.Is(we.Err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "xauth-agent wait: no valid token after %v: %v\n", *timeout, we.Last)
		return failure.Of(err).ExitCode() // the last failure's, else Unreachable
	case errors.As(err, &we):
		fmt.Fprintf(stderr, "xauth-agent wait: interrupted: %v\n", we.Last)
		return failure.ExitRuntime
	}
	return apiClientFailure(stderr, "wait", err)
}
