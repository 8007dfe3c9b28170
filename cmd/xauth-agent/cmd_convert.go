package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/xauth-agent/xauth-agent/internal/config"
	"github.com/xauth-agent/xauth-agent/internal/failure"
)

const convertUsage = `Usage: xauth-agent convert FILE

Reads a Vault Agent config (or a native one) and prints the equivalent native
xauth-agent config on stdout; warnings (ignored stanzas, converted modes) go to
stderr. The environment and flags are not applied, so the output holds only
what the file says. Settings with no native form (exit_after_auth: run with
--once) are reported as warnings.

Exit codes:
  0  converted (warnings allowed)
  2  usage error, or the file uses something xauth-agent cannot do the same way
`

var errConvertArgs = errors.New("give one config file: xauth-agent convert FILE")

// runConvert is `xauth-agent convert FILE`.
func runConvert(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if wantsHelp(args) {
		fmt.Fprint(stdout, convertUsage)
		return failure.ExitOK
	}
	if len(args) != 1 {
		fmt.Fprintln(stderr, "xauth-agent convert:", errConvertArgs)
		return failure.ExitUsage
	}
	cfg, err := config.Load(args[0], nil, config.Overrides{})
	if err != nil {
		fmt.Fprintln(stderr, "xauth-agent convert: configuration:", err)
		return failure.ExitUsage
	}
	printWarnings(stderr, cfg.Warnings)
	if cfg.ExitAfterAuth {
		fmt.Fprintln(stderr, "warning: exit_after_auth has no native setting: run xauth-agent --once --config <the converted file>")
	}
	if _, err := stdout.Write(config.NativeHCL(cfg)); err != nil {
		fmt.Fprintln(stderr, "xauth-agent convert:", err)
		return failure.ExitRuntime
	}
	return failure.ExitOK
}
