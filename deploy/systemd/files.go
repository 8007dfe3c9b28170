// Package systemd is the one copy of the files that run xauth-agent under
// systemd: the units, the sysusers.d and tmpfiles.d files and the example
// configuration. The packages install them from this directory, and
// `xauth-agent install systemd` from the binary, which embeds them.
package systemd

import "embed"

// Files holds the files by their names in this directory.
//
//go:embed xauth-agent.service xauth-agent@.service xauth-agent.sysusers xauth-agent.tmpfiles agent.hcl.example
var Files embed.FS
