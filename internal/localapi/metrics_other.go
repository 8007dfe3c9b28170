//go:build !linux

package localapi

// processFamilies is Linux-only: the figures come from /proc/self, and the
// agent runs on Linux (EC2, systemd); elsewhere the process_ metrics are
// left out.
func processFamilies() []family { return nil }
