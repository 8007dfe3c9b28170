package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/xauth-agent/xauth-agent/internal/config"
)

const validateUsage = `Usage: xauth-agent validate [--config FILE] [flags]

Runs the configuration checks the agent runs at startup and on SIGHUP (file,
environment, flags, every setting, sink owners and groups looked up on this
host, sink paths distinct, Vault TLS files readable) without touching the
network or the sink directories. It prints every error, each with
the file:line, variable or flag that set it, and every warning about a risky
choice (a sink others can read, tls_skip_verify, ignored Vault Agent stanzas).
On success it prints "ok" and a summary. --config also accepts a Vault Agent
config (one with an auto_auth block); see xauth-agent convert.

It takes the configuration flags of xauth-agent itself (see xauth-agent --help).

Exit codes:
  0  the configuration is usable (warnings allowed)
  2  usage or configuration error
`

// runValidate is `xauth-agent validate`.
func runValidate(_ context.Context, args []string, s streams) error {
	fs := flag.NewFlagSet("xauth-agent validate", flag.ContinueOnError)
	o := agentFlags(fs)
	if err := o.parse(fs, args, s, s.stdout, helpText(validateUsage)); err != nil {
		return err
	}
	cfg, err := loadConfig(o)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	printWarnings(s.stderr, cfg.Warnings)
	fmt.Fprint(s.stdout, summary(cfg))
	return nil
}

func printWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}

// summary describes a valid configuration in a few lines.
func summary(c *config.Config) string {
	var b strings.Builder
	src := c.Source
	if src == "" {
		src = "no config file"
	}
	fmt.Fprintf(&b, "ok: %s\n", src)
	fmt.Fprintf(&b, "  vault:  %s", strings.Join(c.Vault.Addresses, ", "))
	if c.Vault.Namespace != "" {
		fmt.Fprintf(&b, " (namespace %q)", c.Vault.Namespace)
	}
	b.WriteString("\n")
	a := c.Auth
	role := a.Role
	if role == "" {
		role = "(the IAM principal's name)"
	}
	fmt.Fprintf(&b, "  auth:   %s type %s, role %s, mount auth/%s", a.Method, a.Type, role, a.Mount)
	if a.Type == "iam" {
		fmt.Fprintf(&b, ", signed for %s at %s", a.STSRegion, a.STSEndpoint)
		if a.HeaderValue != "" {
			fmt.Fprintf(&b, ", header_value %q", a.HeaderValue)
		}
	} else {
		fmt.Fprintf(&b, ", signature %s, nonce file %s", a.Signature, a.NonceFile)
	}
	b.WriteString("\n")
	if r := a.AssumeRole; r.ARN != "" {
		session := r.SessionName
		if session == "" {
			session = "xauth-agent-<hostname>"
		}
		fmt.Fprintf(&b, "  aws:    assume role %s (session %s, %v", r.ARN, session, r.Duration)
		if r.ExternalID != "" {
			b.WriteString(", with an external ID")
		}
		b.WriteString(") with the AWS SDK's credentials; its STS client follows AWS_REGION and AWS_ENDPOINT_URL_STS, not sts_region/sts_endpoint\n")
	}
	for _, s := range c.Sinks {
		fmt.Fprintf(&b, "  sink:   file %s mode %04o format %s", s.Path, uint32(s.Mode.Perm()), s.Format)
		if s.WrapTTL > 0 {
			fmt.Fprintf(&b, ", a wrapping token that lives %v", s.WrapTTL)
		}
		if len(s.OnChange) > 0 {
			fmt.Fprintf(&b, ", on_change %q", s.OnChange)
		}
		b.WriteString("\n")
	}
	if s := c.Socket; s != nil {
		fmt.Fprintf(&b, "  sink:   socket %s mode %04o\n", s.Path, uint32(s.Mode.Perm()))
	}
	if a := c.Health.Address; a != "" {
		fmt.Fprintf(&b, "  health: http://%s/v1/livez, /v1/readyz, /metrics\n", a)
	}
	if len(c.Sinks) == 0 && c.Socket == nil {
		b.WriteString("  sink:   none (with --once the token goes to stdout)\n")
	}
	if c.ExitAfterAuth {
		b.WriteString("  mode:   exit_after_auth: log in once and exit, as --once\n")
	}
	stateDir, runtimeDir := c.Lifecycle.Dirs(os.LookupEnv)
	fmt.Fprintf(&b, "  daemon: lock in %s, token record in %s (kept only on tmpfs)\n", stateDir, runtimeDir)
	return b.String()
}
