package diagnose

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// markers are the text output's status column: plain ASCII, so the output
// reads the same in a journal, over serial consoles and in CI logs.
var markers = map[Status]string{Pass: "[ ok ]", Warn: "[warn]", Fail: "[FAIL]", Skip: "[skip]"}

// nameWidth fits the longest step name.
const nameWidth = 13

// Counts tallies the steps by status.
func (r *Report) Counts() map[Status]int {
	n := map[Status]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0}
	for _, s := range r.Steps {
		n[s.Status]++
	}
	return n
}

// WriteText renders the report as a checklist: one line per step with its
// marker and name, what it saw, then "fix:" when there is something to
// change.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	t := r.Target
	if t.VaultAddr != "" {
		role := t.Role
		if role == "" {
			role = "(from the IAM role's name)"
		}
		fmt.Fprintf(&b, "xauth-agent diagnose: %s login to %s at auth/%s, role %s\n\n", t.Type, t.VaultAddr, t.Mount, role)
	}
	indent := strings.Repeat(" ", len(markers[Pass])+1+nameWidth+1)
	for _, s := range r.Steps {
		lines := strings.Split(strings.TrimRight(s.Saw, "\n"), "\n")
		fmt.Fprintf(&b, "%s %-*s %s\n", markers[s.Status], nameWidth, s.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "%s%s\n", indent, l)
		}
		if s.Fix != "" && (s.Status == Fail || s.Status == Warn) {
			fmt.Fprintf(&b, "%sfix: %s\n", indent, s.Fix)
		}
	}
	n := r.Counts()
	warnings := "warnings"
	if n[Warn] == 1 {
		warnings = "warning"
	}
	fmt.Fprintf(&b, "\n%d passed, %d %s, %d failed, %d skipped\n", n[Pass], n[Warn], warnings, n[Fail], n[Skip])
	if f, ok := r.FirstFailure(); ok {
		fmt.Fprintf(&b, "fix %s first: later failures may follow from it\n", f.Name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonReport is the JSON document: the report plus its verdict.
type jsonReport struct {
	OK           bool           `json:"ok"`
	FirstFailure string         `json:"first_failure,omitempty"`
	Summary      map[Status]int `json:"summary"`
	*Report
}

// WriteJSON renders the report as one JSON document:
// {"ok", "first_failure", "summary", "target", "steps": [{"name", "status",
// "saw", "fix", "kind", "details"}]}.
func (r *Report) WriteJSON(w io.Writer) error {
	doc := jsonReport{OK: r.OK(), Summary: r.Counts(), Report: r}
	if f, ok := r.FirstFailure(); ok {
		doc.FirstFailure = f.Name
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
