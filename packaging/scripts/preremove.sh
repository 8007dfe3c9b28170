#!/bin/sh
# xauth-agent prerm. Arguments: deb "remove", "upgrade <new-version>", "deconfigure ...",
# "failed-upgrade ..."; rpm %preun: 0 on erase, 1 on upgrade.
#
# On removal only: disable the agent and every enabled instance (so no links to the removed
# units stay behind; after a reinstall, enable it again), and stop them. An upgrade leaves them
# running: the new postinst restarts them.
set -e

case "$1" in
remove | 0) ;;
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

# Disabling the template also removes the links of its instances (xauth-agent@NAME.service).
# Works without a running systemd.
if command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload disable xauth-agent.service xauth-agent@.service >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
	invoke stop xauth-agent.service 'xauth-agent@*.service' || true
fi
exit 0
