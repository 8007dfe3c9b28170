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
func runTokenCmd(ctx context.Context, args []string, s streams) error {
	fs := flag.NewFlagSet("xauth-agent token", flag.ContinueOnError)
	socket := apiSocketFlag(fs)
	verb, err := apiArgs(fs, args, tokenUsage, s, true)
	if err != nil {
		return err
	}
	switch verb {
	case "", "get":
	case "store":
		// Drain what Vault writes so it never sees a broken pipe.
		if _, err := io.Copy(io.Discard, io.LimitReader(s.stdin, 1<<20)); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return nil
	case "erase":
		return nil
	default:
		return usageError(fmt.Errorf("unknown operation %q: use get, store or erase", verb))
	}
	tok, err := (&localapi.Client{Socket: *socket}).Token(ctx)
	if err != nil {
		return explainClientError(err)
	}
	_, err = io.WriteString(s.stdout, tok)
	return err
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

// apiArgs parses the command line of the commands that ask the running
// agent (token, status, wait), whose help ends with clientExitCodes. With
// verb, it takes at most one operand, anywhere among the flags.
func apiArgs(fs *flag.FlagSet, args []string, usage string, s streams, verb bool) (string, error) {
	operands, afterDash, err := parse(fs, args, s.stderr, helpWithFlags(fs, usage, clientExitCodes))
	operands = append(operands, afterDash...)
	switch {
	case err != nil:
		return "", err
	case verb && len(operands) == 1:
		return operands[0], nil
	case verb && len(operands) > 1:
		operands = operands[1:]
	}
	return "", noOperands(operands)
}

// explainClientError says what a failed call to the agent means; its kind
// gives the exit code (localapi's errors carry theirs).
func explainClientError(err error) error {
	var (
		ue *localapi.UnreachableError
		ae *localapi.APIError
	)
	switch {
	case errors.As(err, &ue) && errors.Is(ue.Err, syscall.EACCES):
		return fmt.Errorf("%w: the socket's mode and group shut this user out; ask for its group, or check --socket", err)
	case errors.As(err, &ue):
		return fmt.Errorf("%w: is the agent running, with a socket sink at this path?", err)
	case errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden:
		return failure.Mark(failure.Refused, fmt.Errorf("%s (uid %d)", ae.Message, os.Geteuid()))
	case errors.As(err, &ae) && (ae.StatusCode == http.StatusServiceUnavailable || ae.StatusCode == http.StatusTooManyRequests):
		return failure.Mark(failure.Unreachable, fmt.Errorf("the agent has no valid token yet: %s", ae.Message))
	}
	return err
}
