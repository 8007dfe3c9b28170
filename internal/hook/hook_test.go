package hook

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// results collects the results Done is told, with the (bubble's) time of each.
type results struct {
	mu   sync.Mutex
	list []string
	at   []time.Time
}

func (r *results) done(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, result)
	r.at = append(r.at, time.Now())
}

func (r *results) get() ([]string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list), slices.Clone(r.at)
}

func TestEnviron(t *testing.T) {
	got := Environ([]string{"PATH=/bin", "VAULT_TOKEN=hvs.secret", "XAUTH_SINK_PATH=/old", "VAULT_ADDR=https://v"}, "/run/app/token")
	want := []string{"PATH=/bin", "VAULT_ADDR=https://v", "XAUTH_SINK_PATH=/run/app/token"}
	if !slices.Equal(got, want) {
		t.Errorf("Environ = %q, want %q", got, want)
	}
}

// The run waits for the drawn splay, and a Trigger during the splay is
// covered by that run. The command sees XAUTH_SINK_PATH and no VAULT_TOKEN.
func TestSplayAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "token.env")
	synctest.Test(t, func(t *testing.T) {
		var res results
		var drawn int64
		r := New(t.Context(), Options{
			Argv:    []string{"/bin/sh", "-c", `env > "$XAUTH_SINK_PATH.env"`},
			Path:    filepath.Join(dir, "token"),
			Splay:   10 * time.Second,
			Rand:    func(n int64) int64 { drawn = n; return n - 1 },
			Environ: func() []string { return []string{"PATH=/usr/bin:/bin", "VAULT_TOKEN=hvs.secret"} },
			Done:    res.done,
		}, nil)
		start := time.Now()
		r.Trigger()
		time.Sleep(5 * time.Second)
		r.Trigger() // during the splay: the same run
		r.Wait()
		list, at := res.get()
		if !slices.Equal(list, []string{ResultOK}) {
			t.Fatalf("results %q, want one ok", list)
		}
		if drawn != int64(10*time.Second) || at[0].Sub(start) != 10*time.Second-1 {
			t.Errorf("splay drawn from [0, %v), ran after %v", time.Duration(drawn), at[0].Sub(start))
		}
	})
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	if strings.Contains(env, "VAULT_TOKEN") || strings.Contains(env, "hvs.secret") || !strings.Contains(env, "XAUTH_SINK_PATH="+filepath.Join(dir, "token")+"\n") {
		t.Errorf("the command's environment:\n%s", env)
	}
}

// Triggers while the command runs make exactly one more run after it.
func TestTriggersWhileRunningCoalesce(t *testing.T) {
	dir := t.TempDir()
	fifo, count := filepath.Join(dir, "fifo"), filepath.Join(dir, "count")
	for _, n := range []string{".1", ".2"} {
		if err := syscall.Mkfifo(fifo+n, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var res results
	r := New(context.Background(), Options{
		// Run N counts itself, then blocks until the test opens fifo.N.
		Argv: []string{"/bin/sh", "-c", `echo run >> "$0"; n=$(wc -l < "$0"); cat "$1.$n" > /dev/null`, count, fifo},
		Path: filepath.Join(dir, "token"),
		Done: res.done,
	}, nil)
	release := func(n string) { // returns once run n's cat has its fifo open, and lets it end
		f, err := os.OpenFile(fifo+"."+n, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	r.Trigger()
	release("1") // the first run is running: open blocked until its cat opened the fifo
	r.Trigger()
	r.Trigger()
	r.Trigger()
	release("2") // the one more run
	r.Wait()
	b, _ := os.ReadFile(count)
	if n := strings.Count(string(b), "run"); n != 2 {
		t.Errorf("%d runs, want 2 (the first, and one for the three triggers during it)", n)
	}
	if list, _ := res.get(); !slices.Equal(list, []string{ResultOK, ResultOK}) {
		t.Errorf("results %q", list)
	}
}

// A command past its timeout is killed with its whole process group; a
// failing exit status and a command that cannot start are reported.
func TestTimeoutFailureAndNoStart(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	var res results
	run := func(argv []string, timeout time.Duration) string {
		r := New(context.Background(), Options{Argv: argv, Path: "/x", Timeout: timeout, Done: res.done}, nil)
		r.Trigger()
		r.Wait()
		list, _ := res.get()
		return list[len(list)-1]
	}
	if got := run([]string{"/bin/sh", "-c", `sleep 60 & echo $! > "$0"; wait`, pidFile}, 300*time.Millisecond); got != ResultTimeout {
		t.Errorf("a command past its timeout: %s, want %s", got, ResultTimeout)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// SIGKILL ends a process asynchronously: give the kernel a moment to
	// make the grandchild a zombie (of init) or remove it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		state, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(state), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %d outlived the timeout: %s", pid, state)
		}
	}
	if got := run([]string{"/bin/sh", "-c", "exit 3"}, time.Minute); got != ResultFailed {
		t.Errorf("exit 3: %s, want %s", got, ResultFailed)
	}
	if got := run([]string{filepath.Join(dir, "missing")}, time.Minute); got != ResultNotStart {
		t.Errorf("a missing command: %s, want %s", got, ResultNotStart)
	}
}

// When the runner's context ends, a run waiting for its splay never starts.
func TestStopDuringSplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var res results
		r := New(ctx, Options{Argv: []string{"/bin/true"}, Path: "/x", Splay: time.Minute, Rand: func(n int64) int64 { return n / 2 }, Done: res.done}, nil)
		r.Trigger()
		time.Sleep(10 * time.Second)
		cancel()
		r.Wait()
		if list, _ := res.get(); len(list) != 0 {
			t.Errorf("results %q after the context ended during the splay, want none", list)
		}
	})
}
