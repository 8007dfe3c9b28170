package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/failure"
	"github.com/xauth-agent/xauth-agent/internal/localapi"
)

const statusUsage = `Usage: xauth-agent status [--socket PATH] [--json]

Shows what the running agent is doing: its state, the token's accessor,
policies and expiry, the next renewal, the last error, and each sink's
last write. The token itself is never shown. Exits 0 while the agent holds
a valid token, 4 when it does not (or cannot be reached).

The socket is --socket, else $` + socketEnv + `, else ` + localapi.DefaultSocket + `.

Flags:
`

// runStatusCmd is "xauth-agent status".
func runStatusCmd(ctx context.Context, args []string, s streams) error {
	fs := flag.NewFlagSet("xauth-agent status", flag.ContinueOnError)
	socket := apiSocketFlag(fs)
	asJSON := fs.Bool("json", false, "print the agent's status JSON as it is")
	if _, err := apiArgs(fs, args, statusUsage, s, false); err != nil {
		return err
	}
	st, err := (&localapi.Client{Socket: *socket}).Status(ctx)
	if err != nil {
		return explainClientError(err)
	}
	if *asJSON {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(st)
	} else {
		err = printStatus(s.stdout, st, time.Now())
	}
	if err != nil {
		return err
	}
	if st.TokenState != "valid" {
		return exitError{code: failure.ExitUnreachable}
	}
	return nil
}

// printStatus writes st as a table for people.
func printStatus(w io.Writer, st localapi.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("State", st.State)
	row("Token", st.TokenState)
	row("Accessor", statusOrDash(st.Accessor))
	row("Policies", statusOrDash(strings.Join(st.Policies, ", ")))
	row("Expires", statusWhen(st.ExpiresAt, now))
	if st.TokenState == "valid" && st.TTLLeft > 0 {
		row("TTL left", (time.Duration(st.TTLLeft) * time.Second).String())
	}
	row("Renewable", statusYesNo(st.Renewable))
	row("Next renewal", statusWhen(st.NextRenewal, now))
	row("Generation", strconv.FormatUint(st.Generation, 10))
	row("Last error", statusOrDash(st.LastError))
	row("Version", statusOrDash(st.Version))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Sinks) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SINK\tGENERATION\tLAST WRITE\tERROR")
		for _, s := range st.Sinks {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, s.Generation, statusWhen(s.LastWrite, now), statusOrDash(s.LastError))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Vault) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VAULT ADDRESS\tSTATE\tSINCE\tLAST ERROR")
		for _, a := range st.Vault {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Address, a.State, statusWhen(a.Since, now), statusOrDash(a.LastError))
		}
		return tw.Flush()
	}
	return nil
}

// when shows t with how far it is from now, e.g.
// "2026-01-02T03:04:05Z (in 41m3s)"; "-" for the zero time.
func statusWhen(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	rel := "now"
	switch {
	case d > 0:
		rel = "in " + d.String()
	case d < 0:
		rel = (-d).String() + " ago"
	}
	return t.UTC().Format(time.RFC3339) + " (" + rel + ")"
}

func statusOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func statusYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
