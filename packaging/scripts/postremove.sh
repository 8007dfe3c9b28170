#!/bin/sh
# xauth-agent postrm. Arguments: deb "remove", "purge", "upgrade", "abort-*", ...; rpm
# %postun: 0 on erase, 1 on upgrade.
#
# After removal, reload systemd so that it drops the units. Left in place, also on purge:
#   - the xauth-agent user and group: files outside the package may still belong to them, and
#     a reused uid would give those files to someone else;
#   - /var/lib/xauth-agent: it holds the EC2 client nonce; without it Vault refuses this
#     instance's next ec2 login until its identity entry is removed or expires.
# dpkg --purge removes agent.hcl and /etc/xauth-agent if nothing else is in it; rpm -e keeps an
# edited agent.hcl as agent.hcl.rpmsave.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
