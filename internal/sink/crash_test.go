package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xauth-agent/xauth-agent/internal/token"
)

// crashChildDir names the directory a crash child writes in. Set, the test
// binary runs TestFileCrashChild as a writer for TestFileCrashSafety.
const crashChildDir = "XAUTH_SINK_CRASH_DIR"

// crashFiles are the child's sinks: file name -> format.
var crashFiles = []struct{ name, format string }{
	{"token", formatToken},
	{"token.json", formatJSON},
	{"token.env", formatEnv},
}

var (
	// crashTokenRE is a crash token: sequence, random padding, checksum.
	crashTokenRE = regexp.MustCompile(`^hvs\.(\d{9})-([A-Za-z0-9]*)-([0-9a-f]{8})$`)
	crashTempRE  = regexp.MustCompile(`^\.(token|token\.json|token\.env)\.tmp-[0-9a-f]{16}$`)
)

// crashToken is token number seq: a random length (so a cut-short file
// cannot pass for a shorter token) and a checksum of the rest.
func crashToken(seq int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	pad := make([]byte, rand.IntN(300))
	for i := range pad {
		pad[i] = alnum[rand.IntN(len(alnum))]
	}
	body := fmt.Sprintf("hvs.%09d-%s", seq, pad)
	return fmt.Sprintf("%s-%08x", body, crc32.ChecksumIEEE([]byte(body)))
}

// checkCrashToken returns tok's sequence number if tok is a whole crash token.
func checkCrashToken(tok string) (int, error) {
	m := crashTokenRE.FindStringSubmatch(tok)
	if m == nil {
		return 0, fmt.Errorf("not a whole token: %q", tok)
	}
	body := tok[:len(tok)-len(m[3])-1]
	if want := fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body))); m[3] != want {
		return 0, fmt.Errorf("checksum %s, want %s: %q", m[3], want, tok)
	}
	return strconv.Atoi(m[1])
}

// checkCrashFile returns the sequence number of the token in content, if
// content is a whole file in format.
func checkCrashFile(format string, content []byte) (int, error) {
	switch format {
	case formatToken:
		return checkCrashToken(string(content))
	case formatEnv:
		tok, ok := strings.CutPrefix(string(content), "VAULT_TOKEN=")
		tok, nl := strings.CutSuffix(tok, "\n")
		if !ok || !nl {
			return 0, fmt.Errorf("env file is not VAULT_TOKEN=<token>\\n: %q", content)
		}
		return checkCrashToken(tok)
	case formatJSON:
		if !bytes.HasSuffix(content, []byte("}\n")) {
			return 0, fmt.Errorf("json file does not end in }\\n: %q", content)
		}
		var v tokenJSON
		dec := json.NewDecoder(bytes.NewReader(content))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return 0, fmt.Errorf("json file: %v: %q", err, content)
		}
		seq, err := checkCrashToken(v.Token)
		if err != nil {
			return 0, err
		}
		if v.Accessor != fmt.Sprintf("accessor-%d", seq) || !slices.Equal(v.Policies, []string{"default", "admin"}) ||
			v.LeaseDuration != 60 || !v.Renewable || v.ExpiresAt == nil {
			return 0, fmt.Errorf("json file fields: %q", content)
		}
		return seq, nil
	}
	return 0, fmt.Errorf("unknown format %q", format)
}

// TestFileCrashChild is the writer TestFileCrashSafety kills: it checks its
// sinks (removing what an earlier kill left), says "ready", then writes new
// tokens to every sink, each from its own goroutine as the fan-out does,
// until it is killed (or 60 s pass, should its parent be gone).
func TestFileCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildDir)
	if dir == "" {
		t.Skip("the child of TestFileCrashSafety")
	}
	var files []*File
	for _, c := range crashFiles {
		f := NewFile(FileOptions{Path: filepath.Join(dir, c.name), Mode: 0o600, UID: -1, GID: -1, Format: c.format}, nil)
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Go(func() {
			for seq := 1; ctx.Err() == nil; seq++ {
				err := f.Write(ctx, token.Token{Token: crashToken(seq), Accessor: fmt.Sprintf("accessor-%d", seq),
					Policies: []string{"default", "admin"}, LeaseDuration: time.Minute, Renewable: true, ExpiresAt: time.Now().Add(time.Minute)})
				if err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFileCrashSafety kills a process writing tokens in a tight loop with
// SIGKILL at random moments, and checks after each kill that every sink file
// holds a whole token in its format (or is absent, before its first write),
// and that the temp files a kill left are gone once the next writer's Check
// ran. XAUTH_CRASH_ITERATIONS sets the number of kills (default 30).
func TestFileCrashSafety(t *testing.T) {
	if os.Getenv(crashChildDir) != "" {
		t.Skip("in the child")
	}
	iterations := 30
	if v := os.Getenv("XAUTH_CRASH_ITERATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("XAUTH_CRASH_ITERATIONS=%q: want a positive number", v)
		}
		iterations = n
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var (
		written  = map[string]bool{} // file -> has held a token
		pending  []string            // temp files the next Check must remove
		writes   int                 // tokens the children got into files
		leftover int                 // kills that left a temp file
	)
	for i := range iterations {
		cmd := exec.Command(exe, "-test.run=^TestFileCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildDir+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
					return
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("kill %d: the child stopped before it was ready: %s", i+1, &stderr)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("kill %d: the child was not ready within 30s: %s", i+1, &stderr)
		}
		for _, p := range pending {
			if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("kill %d: temp file %s left by the previous kill survived Check (%v)", i+1, p, err)
			}
		}
		pending = nil

		time.Sleep(rand.N(20 * time.Millisecond)) // the moment of the kill, not a wait for behaviour
		_ = cmd.Process.Kill()
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: the child ended with %v before the kill: %s", i+1, err, &stderr)
		}

		for _, c := range crashFiles {
			content, err := os.ReadFile(filepath.Join(dir, c.name))
			if errors.Is(err, fs.ErrNotExist) && !written[c.name] {
				continue
			}
			if err != nil {
				t.Fatalf("kill %d: %s: %v", i+1, c.name, err)
			}
			seq, err := checkCrashFile(c.format, content)
			if err != nil {
				t.Fatalf("kill %d: %s: %v", i+1, c.name, err)
			}
			written[c.name] = true
			writes += seq
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch {
			case crashTempRE.MatchString(e.Name()):
				pending = append(pending, e.Name())
			case !slices.ContainsFunc(crashFiles, func(c struct{ name, format string }) bool { return c.name == e.Name() }):
				t.Fatalf("kill %d: unexpected file %s", i+1, e.Name())
			}
		}
		if len(pending) > 0 {
			leftover++
		}
	}
	for _, c := range crashFiles {
		f := NewFile(FileOptions{Path: filepath.Join(dir, c.name), Mode: 0o600, UID: -1, GID: -1, Format: c.format}, nil)
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pending {
		if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("temp file %s left by the last kill survived Check (%v)", p, err)
		}
	}
	t.Logf("%d kills, about %d whole files written before them; %d kills interrupted a write and left a temp file, removed by the next Check",
		iterations, writes, leftover)
	if len(written) != len(crashFiles) {
		t.Errorf("only %d of %d files were ever written", len(written), len(crashFiles))
	}
}
