package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
)

// socketEnv names the agent's socket for the token, status and wait
// commands when --socket is not given. It matters most for the token
// helper, which Vault runs without flags.
const socketEnv = "XAUTH_AGENT_SOCKET"

const clientExitCodes = `Exit codes:
  0  success
  1  unexpected failure
  2  usage error
  4  agent unreachable, or it holds no valid token (yet)
  5  the agent refused this caller (uid not in allow_uids, no group in allow_gids)
`

const tokenUsage = `Usage: xauth-agent token [--socket PATH] [get|store|erase]

Prints the agent's current Vault token, exactly as it is, with no trailing
newline:

  export VAULT_TOKEN=$(xauth-agent token)

It also speaks the Vault CLI's token helper protocol: "get" prints the
token (the same as no argument); "store" reads and discards stdin, and
"erase" does nothing, both exiting 0, since the agent owns the token.
Vault runs the helper as "<path> get", so point token_helper in ~/.vault
at a symlink named xauth-agent-token-helper (the agent answers as the
token command under that name):

  ln -s /usr/bin/xauth-agent /usr/local/bin/xauth-agent-token-helper
  echo 'token_helper = "/usr/local/bin/xauth-agent-token-helper"' >> ~/.vault

The socket is --socket, else $` + socketEnv + `, else ` + localapi.DefaultSocket + `.

Flags:
`

// runTokenCmd is "xauth-agent token".
func runTokenCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xauth-agent token", flag.ContinueOnError)
	socket := apiSocketFlag(fs)
	verb, err := parseAPICmd(fs, args, tokenUsage, stderr)
	if err != nil {
		return apiUsageExit(err, "token", stderr)
	}
	switch verb {
	case "", "get":
	case "store":
		// Drain what Vault writes so it never sees a broken pipe.
		if _, err := io.Copy(io.Discard, io.LimitReader(stdin, 1<<20)); err != nil {
			fmt.Fprintln(stderr, "xauth-agent token store:", err)
			return failure.ExitRuntime
		}
		return failure.ExitOK
	case "erase":
		return failure.ExitOK
	default:
		fmt.Fprintf(stderr, "xauth-agent token: unknown operation %q: use get, store or erase\n", verb)
		return failure.ExitUsage
	}
	tok, err := (&localapi.Client{Socket: *socket}).Token(ctx)
	if err != nil {
		return apiClientFailure(stderr, "token", err)
	}
	if _, err := io.WriteString(stdout, tok); err != nil {
		fmt.Fprintln(stderr, "xauth-agent token:", err)
		return failure.ExitRuntime
	}
	return failure.ExitOK
}

// socketFlag adds --socket, defaulting to $XAUTH_AGENT_SOCKET or the
// default path.
func apiSocketFlag(fs *flag.FlagSet) *string {
	def := localapi.DefaultSocket
	if v := os.Getenv(socketEnv); v != "" {
		def = v
	}
	return fs.String("socket", def, "the agent's unix `socket` (env "+socketEnv+")")
}

// parseCmd parses flags, an optional single operand (the verb), and more
// flags after it. usage heads --help.
func parseAPICmd(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (string, error) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+clientExitCodes)
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	verb := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return verb, nil
}

// usageExit reports a flag error: 0 for --help, else 2.
func apiUsageExit(err error, cmd string, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return failure.ExitOK
	}
	fmt.Fprintf(stderr, "xauth-agent %s: %v\n", cmd, err)
	return failure.ExitUsage
}

// clientFailure explains a failed call to the agent and picks the exit code.
func apiClientFailure(stderr io.Writer, cmd string, err error) int {
	var (
		ue *localapi.UnreachableError
		ae *localapi.APIError
	)
	switch {
	case errors.As(err, &ue) && errors.Is(ue.Err, syscall.EACCES):
		fmt.Fprintf(stderr, "xauth-agent %s: %v: the socket's mode and group shut this user out; ask for its group, or check --socket\n", cmd, err)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "xauth-agent %s: %v: is the agent running, with a socket sink at this path?\n", cmd, err)
	case errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden:
		fmt.Fprintf(stderr, "xauth-agent %s: %s (uid %d)\n", cmd, ae.Message, os.Geteuid())
	case errors.As(err, &ae) && (ae.StatusCode == http.StatusServiceUnavailable || ae.StatusCode == http.StatusTooManyRequests):
		fmt.Fprintf(stderr, "xauth-agent %s: the agent has no valid token yet: %s\n", cmd, ae.Message)
	default:
		fmt.Fprintf(stderr, "xauth-agent %s: %v\n", cmd, err)
	}
	return failure.Of(err).ExitCode()
}
