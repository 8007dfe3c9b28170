package localapi

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// userHZ is the unit of the clock-tick fields of /proc/<pid>/stat. The
// kernel reports them in USER_HZ, which is 100 on every architecture Go
// supports on Linux; sysconf(_SC_CLK_TCK) would need cgo to confirm.
const userHZ = 100

// processFamilies reads the process figures from /proc/self, under the
// names of client_golang's process collector. A file that cannot be read
// (no /proc in a sandbox) leaves its figures out rather than failing the
// scrape: the agent's own metrics matter more.
func processFamilies() []family {
	var fams []family
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		if st, err := parseStat(b); err == nil {
			fams = append(fams,
				single("process_cpu_seconds_total", counter, "User and system CPU time the process has used, in seconds.",
					float64(st.cpuTicks)/userHZ),
				single("process_virtual_memory_bytes", gauge, "Virtual memory size in bytes.", float64(st.vsize)),
				single("process_resident_memory_bytes", gauge, "Resident memory size in bytes.",
					float64(st.rssPages)*float64(os.Getpagesize())))
			if boot, err := bootTime(); err == nil {
				fams = append(fams, single("process_start_time_seconds", gauge, "When the process started, in seconds since the Unix epoch.",
					float64(boot)+float64(st.startTicks)/userHZ))
			}
		}
	}
	if d, err := os.Open("/proc/self/fd"); err == nil {
		names, err := d.Readdirnames(-1)
		d.Close()
		if err == nil {
			// Less one: the descriptor that reads the directory is listed too.
			fams = append(fams, single("process_open_fds", gauge, "Open file descriptors.", float64(len(names)-1)))
		}
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		fams = append(fams, single("process_max_fds", gauge, "Limit on open file descriptors (RLIMIT_NOFILE).", float64(lim.Cur)))
	}
	return fams
}

// procStat holds the fields of /proc/<pid>/stat the metrics use.
type procStat struct {
	cpuTicks   uint64 // utime + stime
	startTicks uint64 // since boot
	vsize      uint64 // bytes
	rssPages   uint64
}

// parseStat reads /proc/<pid>/stat (proc(5)). The second field, the
// command name in parentheses, may itself hold spaces and parentheses,
// so the fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("no ')' after the command name")
	}
	// f[0] is field 3 (state) of proc(5); field n is f[n-3].
	f := bytes.Fields(b[i+1:])
	if len(f) < 22 {
		return procStat{}, errors.New("only " + strconv.Itoa(len(f)+2) + " fields, want at least 24")
	}
	var v [5]uint64
	for j, n := range []int{14, 15, 22, 23, 24} { // utime, stime, starttime, vsize, rss
		var err error
		if v[j], err = strconv.ParseUint(string(f[n-3]), 10, 64); err != nil {
			return procStat{}, errors.New("field " + strconv.Itoa(n) + ": " + err.Error())
		}
	}
	return procStat{cpuTicks: v[0] + v[1], startTicks: v[2], vsize: v[3], rssPages: v[4]}, nil
}

// bootTime is the system's boot time in seconds since the Unix epoch, the
// origin of a process's start time in /proc. It cannot change while the
// agent runs, so it is read once.
var bootTime = sync.OnceValues(func() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBootTime(b)
})

// parseBootTime finds the "btime" line of /proc/stat.
func parseBootTime(b []byte) (uint64, error) {
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, errors.New("no btime line")
}
