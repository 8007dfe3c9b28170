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
	var sinks, addrs []string
	for _, s := range st.Sinks {
		sinks = append(sinks, fmt.Sprintf("%s\t%d\t%s\t%s", s.Name, s.Generation, statusWhen(s.LastWrite, now), statusOrDash(s.LastError)))
	}
	for _, a := range st.Vault {
		addrs = append(addrs, fmt.Sprintf("%s\t%s\t%s\t%s", a.Address, a.State, statusWhen(a.Since, now), statusOrDash(a.LastError)))
	}
	if err := statusTable(w, "SINK\tGENERATION\tLAST WRITE\tERROR", sinks); err != nil {
		return err
	}
	return statusTable(w, "VAULT ADDRESS\tSTATE\tSINCE\tLAST ERROR", addrs)
}

// statusTable writes a blank line, header and rows (tab-separated) in
// aligned columns; nothing without rows.
func statusTable(w io.Writer, header string, rows []string) error {
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
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
