#!/bin/sh
# xauth-agent postinst. Arguments: deb "configure [old-version]" (or "abort-*" after a failed
# operation); rpm %post: 1 on install, 2 on upgrade.
#
# Creates the xauth-agent user and group and /etc/xauth-agent (0750 root:xauth-agent), gives
# /etc/xauth-agent/agent.hcl to the group, and reloads systemd. It neither enables nor starts
# the agent: agent.hcl has to be edited first. On an upgrade it restarts the units that are
# running (try-restart), so they run the new binary; tokens in /run/xauth-agent stay.
set -e

upgrade=
case "$1" in
configure) [ -z "$2" ] || upgrade=yes ;;
[0-9]*) [ "$1" -lt 2 ] || upgrade=yes ;;
# abort-upgrade, abort-deconfigure: prerm changed nothing. abort-remove: prerm disabled and
# stopped the agent; whether it ran before is not known here, so it stays off.
*) exit 0 ;;
esac

# Debian's deb-systemd-invoke honours policy-rc.d; rpm-based systems have only systemctl.
invoke() {
	if command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke "$@"
	else
		systemctl "$@"
	fi
}

# The user and group. dpkg and rpm unpack the files before this runs, so they are root:root
# until the chgrp below.
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/xauth-agent.conf
elif ! getent passwd xauth-agent >/dev/null; then
	# Without systemd: useradd (Debian's passwd, shadow-utils on rpm-based systems), as the
	# sysusers.d line would: a system user and group, no login shell, no home created.
	getent group xauth-agent >/dev/null || groupadd --system xauth-agent
	useradd --system --gid xauth-agent --home-dir /var/lib/xauth-agent --no-create-home \
		--shell "$(command -v nologin || echo /usr/sbin/nologin)" \
		--comment "xauth-agent Vault token agent" xauth-agent
fi

# /etc/xauth-agent: 0750 root:xauth-agent, as the tmpfiles.d entry says (it also runs at boot).
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/xauth-agent.conf ||
		echo "xauth-agent: systemd-tmpfiles could not set up /etc/xauth-agent" >&2
else
	chgrp xauth-agent /etc/xauth-agent
	chmod 0750 /etc/xauth-agent
fi

# The config is installed 0640 root:root, on every upgrade too while it is unmodified. The
# agent reads it through its group. A group chosen by the administrator, or a symlink, stays.
conf=/etc/xauth-agent/agent.hcl
if [ -f "$conf" ] && [ ! -L "$conf" ] && [ "$(stat -c %g "$conf")" = 0 ]; then
	chgrp xauth-agent "$conf"
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ -n "$upgrade" ]; then
		invoke try-restart xauth-agent.service 'xauth-agent@*.service' ||
			echo "xauth-agent: restart failed; see systemctl status xauth-agent" >&2
	fi
fi
exit 0
