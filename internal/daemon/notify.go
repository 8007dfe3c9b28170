// Package daemon speaks systemd's notification protocol (sd_notify(3)): readiness, reloads,
// shutdown, human-readable status and watchdog pings.
//
// Outside systemd (NOTIFY_SOCKET unset) every method is a no-op that costs a branch, so the
// same code runs under systemd, in a container and in tests. A message that cannot be sent is
// logged at debug level and otherwise ignored: the agent's job is the token, not the
// notification, and systemd notices a missing READY=1 or WATCHDOG=1 on its own.
package daemon

import (
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// fieldVar is the log field naming the first variable of a message that could not be sent.
const fieldVar = "var"

// Notifier sends state changes to the service manager. The zero value and a nil *Notifier are
// valid no-ops. A Notifier is safe for concurrent use: each message is one datagram.
type Notifier struct {
	enabled bool
	log     *zap.Logger
}

// NewNotifier returns a Notifier for the socket named by NOTIFY_SOCKET, read now. The variable
// is left in the environment (the library's unsetEnvironment=false), so a child process or a
// later Notifier would see it too. log should be named by the caller (log.Named("daemon"));
// nil discards.
func NewNotifier(log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	// daemon.SdNotify reads NOTIFY_SOCKET again on each call, and treats "" as unset;
	// checking once here makes every message outside systemd a single branch.
	return &Notifier{enabled: os.Getenv("NOTIFY_SOCKET") != "", log: log}
}

// Ready says that startup, or a reload, is complete, with status as the STATUS= line.
func (n *Notifier) Ready(status string) {
	n.send(daemon.SdNotifyReady, statusVar(status))
}

// Status sets the STATUS= line that `systemctl status` shows.
func (n *Notifier) Status(status string) {
	n.send(statusVar(status))
}

// Reloading says that a reload has started; send Ready when it is done. The message carries
// MONOTONIC_USEC=, the CLOCK_MONOTONIC time in microseconds, which systemd ≥ 253 requires
// with RELOADING=1 for Type=notify-reload and older versions ignore.
func (n *Notifier) Reloading() {
	n.send(daemon.SdNotifyReloading, strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"))
}

// Stopping says that shutdown has started.
func (n *Notifier) Stopping() {
	n.send(daemon.SdNotifyStopping)
}

// WatchdogInterval returns the unit's WatchdogSec= as passed in WATCHDOG_USEC, or 0 when the
// watchdog is off, is meant for another process (WATCHDOG_PID), or notifications are off.
// Call Watchdog at about half this interval, from the loop whose health it vouches for.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil || !n.enabled {
		return 0
	}
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Debug("watchdog disabled: cannot read the watchdog environment", zap.Error(err))
		return 0
	}
	return d
}

// Watchdog tells the service manager the agent is alive.
func (n *Notifier) Watchdog() {
	n.send(daemon.SdNotifyWatchdog)
}

// send writes the non-empty variables as one datagram, one per line.
func (n *Notifier) send(vars ...string) {
	if n == nil || !n.enabled {
		return
	}
	lines := make([]string, 0, len(vars))
	for _, v := range vars {
		if v != "" {
			lines = append(lines, v)
		}
	}
	state := strings.Join(lines, "\n")
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Debug("cannot notify the service manager", zap.String(fieldVar, lines[0]), zap.Error(err))
	}
}

// statusVar returns the STATUS= line for status, or "" when status is empty. A newline would
// end the variable early, so each becomes a space.
func statusVar(status string) string {
	if status == "" {
		return ""
	}
	return "STATUS=" + strings.ReplaceAll(status, "\n", " ")
}
