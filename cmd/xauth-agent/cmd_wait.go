package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
func runWaitCmd(ctx context.Context, args []string, s streams) error {
	fs := flag.NewFlagSet("xauth-agent wait", flag.ContinueOnError)
	socket := apiSocketFlag(fs)
	timeout := fs.Duration("timeout", time.Minute, "give up after this `duration`; 0 waits without limit")
	if _, err := apiArgs(fs, args, waitUsage, s, false); err != nil {
		return err
	}
	if *timeout < 0 {
		return usageError(fmt.Errorf("--timeout %v: must not be negative", *timeout))
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	err := (&localapi.Client{Socket: *socket}).WaitHealthy(ctx)
	var we *localapi.WaitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &we) && errors.Is(we.Err, context.DeadlineExceeded):
		// The last failure's kind, else Unreachable (the deadline).
		return failure.Mark(failure.Of(err), fmt.Errorf("no valid token after %v: %v", *timeout, we.Last))
	case errors.As(err, &we):
		return failure.Mark(failure.Runtime, fmt.Errorf("interrupted: %v", we.Last))
	}
	return explainClientError(err)
}
