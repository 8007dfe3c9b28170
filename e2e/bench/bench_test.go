package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/e2e/stack"
)

// env is what every measurement needs: the running stack and where the
// binaries are.
type env struct {
	st     *stack.Stack
	binDir string
	tmp    string
	logs   *lockedBuffer // the stack's child processes; shown when a step fails
	notes  []string      // printed under the table
}

// note adds a line of context under the table.
func (e *env) note(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// BenchmarkSideBySide measures everything once (run with -benchtime 1x;
// b.N is irrelevant) and prints the table. A measurement that cannot be
// taken fails the benchmark rather than printing a made-up figure.
func BenchmarkSideBySide(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	e := &env{binDir: stack.BinDir(), tmp: b.TempDir(), logs: &lockedBuffer{}}
	for _, name := range []string{"xauth-agent", "vault-loopback", "ec2-metadata-mock"} {
		if _, err := os.Stat(filepath.Join(e.binDir, name)); err != nil {
			b.Fatalf("%s missing in %s: run make bench (it builds them)", name, e.binDir)
		}
	}
	var err error
	e.st, err = stack.Start(ctx, stack.Options{BinDir: e.binDir, Logs: e.logs})
	if err != nil {
		b.Fatalf("stack: %v\n%s", err, e.logs.String())
	}
	defer e.st.Close()

	var rows []row
	only := os.Getenv("XAUTH_BENCH_ONLY") // e.g. "socket api": measure one row group
	step := func(name string, f func() ([]row, error)) {
		if only != "" && only != name {
			return
		}
		start := time.Now()
		fmt.Fprintf(os.Stderr, "bench: %s...\n", name)
		r, err := f()
		if err != nil {
			b.Fatalf("%s: %v\nstack log tail:\n%s", name, err, tail(e.logs.String(), 40))
		}
		fmt.Fprintf(os.Stderr, "bench: %s done in %v\n", name, time.Since(start).Round(time.Second))
		rows = append(rows, r...)
	}
	step("once", func() ([]row, error) { return measureOnce(ctx, e) })
	step("daemon", func() ([]row, error) { return measureDaemon(ctx, e) })
	step("outage simulation", func() ([]row, error) { return simulateOutages(), nil })
	step("fleet", func() ([]row, error) { return measureFleet(ctx, e, fleetSize(b)) })
	step("ha fleet", func() ([]row, error) { return measureHAFleet(ctx, e, fleetSize(b)) })
	step("socket api", func() ([]row, error) { return measureSocketAPI(ctx, e) })

	printTable(os.Stdout, machine(), rows, e.notes)
}

// row is one line of the table.
type row struct {
	metric, agent, ref, ratio, goal string
	met                             verdict
}

type verdict int

const (
	noGoal verdict = iota // the row reports a figure with no pass/fail
	met
	notMet
)

func (v verdict) String() string {
	switch v {
	case met:
		return "yes"
	case notMet:
		return "NO"
	}
	return "-"
}

func verdictOf(ok bool) verdict {
	if ok {
		return met
	}
	return notMet
}

// printTable writes the machine line and the rows as a Markdown table,
// ready to paste into the README.
func printTable(w io.Writer, header string, rows []row, notes []string) {
	cells := [][]string{{"metric", "xauth-agent", "reference", "ratio", "goal", "met"}}
	for _, r := range rows {
		cells = append(cells, []string{r.metric, r.agent, orDash(r.ref), orDash(r.ratio), orDash(r.goal), r.met.String()})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, s := range c {
			sb.WriteString(" " + s + strings.Repeat(" ", width[i]-len([]rune(s))) + " |")
		}
		fmt.Fprintln(w, sb.String())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, header)
	fmt.Fprintln(w)
	line(cells[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, "- "+n)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// machine describes where the figures were taken.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "linux"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "linux " + strings.TrimSpace(string(b))
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("xauth-agent bench, %s: %s, %d cores, %s, %s %s/%s, Vault 1.21.4 (loopback, in-memory); load average %s when the table was printed",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpu, runtime.NumCPU(), kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}

// fleetSize is $XAUTH_BENCH_FLEET, 1000 by default.
func fleetSize(b *testing.B) int {
	n, err := stack.PositiveEnv("XAUTH_BENCH_FLEET", 1000)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// median of ds; ds is sorted in place.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// percentile of sorted ds, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ratio(a, b float64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(len(ls)-lines, 0):], "\n")
}

// lockedBuffer collects output several processes write at once, keeping
// about the last logKeep bytes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const logKeep = 1 << 20

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4*logKeep {
		l.b.Next(l.b.Len() - logKeep)
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
