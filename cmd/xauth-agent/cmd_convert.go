package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/xauth-agent/xauth-agent/internal/config"
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

// runConvert is `xauth-agent convert FILE`.
func runConvert(_ context.Context, args []string, s streams) error {
	fs := flag.NewFlagSet("xauth-agent convert", flag.ContinueOnError)
	operands, afterDash, err := parse(fs, args, s.stdout, helpText(convertUsage))
	if err != nil {
		return err
	}
	files := append(operands, afterDash...)
	if len(files) != 1 {
		return usageError(errors.New("give one config file: xauth-agent convert FILE"))
	}
	cfg, err := config.Load(files[0], nil, config.Overrides{})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	printWarnings(s.stderr, cfg.Warnings)
	if cfg.ExitAfterAuth {
		fmt.Fprintln(s.stderr, "warning: exit_after_auth has no native setting: run xauth-agent --once --config <the converted file>")
	}
	if _, err := s.stdout.Write(config.NativeHCL(cfg)); err != nil {
		return err
	}
	return nil
}
