#!/usr/bin/env bash
# check-packages.sh [DEB RPM STAGE]: checks a .deb and an .rpm of one architecture, by default
# the ones `make package` put in bin/packages/ (STAGE bin/packages/stage holds the files
# packaging/build.sh packaged); scripts/check-release.sh passes each release architecture's:
#   - packaging/version.sh turns `git describe` output into versions that dpkg and rpm accept
#     and order alike, and both packages carry the version of HEAD;
#   - each package is at most 10 MB;
#   - each holds exactly the expected files, with their modes, byte for byte the files of the
#     tree (the binary: the one in STAGE, static, and it runs where this machine can run it);
#   - the package's architecture (deb Architecture, rpm ARCH) is the binary's ELF machine;
#   - /etc/xauth-agent/agent.hcl is a conffile (deb) and %config(noreplace) (rpm);
#   - the maintainer scripts are in both (dpkg-deb -I, rpm --scripts) and parse with sh -n;
#   - lintian reports no error for the deb; its overrides are listed with their reasons;
#   - as root, where a private overlay of / can be mounted, for this machine's architecture:
#     install, reinstall over an edited config, remove and purge both packages in that overlay
#     (the machine is not changed). The maintainer scripts are the same for every architecture.
# Needs dpkg-deb, rpm and lintian (Debian: apt-get install rpm lintian). Outside CI (CI=true) a
# missing rpm or lintian skips its checks with a message; in CI it fails. Exits 1 on the first
# failure.
set -euo pipefail

readonly max_size=$((10 * 1000 * 1000))
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}

fail() {
	echo "check-packages: FAIL: $*" >&2
	exit 1
}
ok() { echo "check-packages: $*"; }
# have TOOL: true if TOOL is installed. If not: a failure in CI, else false and a message.
have() {
	command -v "$1" >/dev/null && return 0
	[[ ${CI:-} != true ]] || fail "$1 not found (CI): apt-get install $2"
	echo "check-packages: SKIP: $1 not found, its checks are skipped (apt-get install $2)"
	return 1
}

command -v dpkg-deb >/dev/null || fail "dpkg-deb not found: apt-get install dpkg"
if (($# == 3)); then
	deb=$1 rpm=$2 stage=$3
	[[ -f $deb && -f $rpm && -d $stage ]] || fail "want DEB RPM STAGE, got: $*"
elif (($# == 0)); then
	readonly dir=bin/packages stage=bin/packages/stage
	shopt -s nullglob
	debs=("$dir"/xauth-agent_*.deb) rpms=("$dir"/xauth-agent-*.rpm)
	shopt -u nullglob
	((${#debs[@]} == 1 && ${#rpms[@]} == 1)) ||
		fail "want one .deb and one .rpm in $dir, found: ${debs[*]:-no deb} ${rpms[*]:-no rpm}; run make package"
	deb=${debs[0]} rpm=${rpms[0]}
else
	fail "usage: check-packages.sh [DEB RPM STAGE]"
fi
arch=$(dpkg-deb -f "$deb" Architecture)
host_arch=$("$GO" env GOHOSTARCH)
have_rpm=false have_lintian=false
if have rpm rpm; then have_rpm=true; fi
if have lintian lintian; then have_lintian=true; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- version.sh: describe output -> version, and the order of the results -------------------
while read -r describe count want; do
	got=$(packaging/version.sh "$describe" "$count")
	[[ $got == "$want" ]] || fail "version.sh $describe $count: got $got, want $want"
done <<'EOF'
c345bde 20 0.0.0~git20.c345bde
v1.2.3 31 1.2.3
1.2.3 31 1.2.3
v1.3.0-rc.1 40 1.3.0~rc.1
v1.2.3-4-gabc1234 35 1.2.3+git4.abc1234
v1.3.0-rc.1-2-gabc1234 42 1.3.0~rc.1+git2.abc1234
EOF
! packaging/version.sh release-2 5 2>/dev/null || fail "version.sh accepted the tag release-2"
# Each version sorts before the next one, for dpkg and for rpm.
ordered=(0.0.0~git20.c345bde 0.0.0~git21.0123abc 0.1.0 1.2.3~rc.1 1.2.3~rc.1+git2.abc1234 1.2.3
	1.2.3+git4.abc1234 1.2.3+git10.abc1234 1.2.4)
for ((i = 1; i < ${#ordered[@]}; i++)); do
	a=${ordered[i - 1]} b=${ordered[i]}
	dpkg --compare-versions "$a-1" lt "$b-1" || fail "dpkg does not sort $a before $b"
	if $have_rpm; then
		[[ $(rpm --eval "%{lua: print(rpm.vercmp('$a', '$b'))}") == -1 ]] ||
			fail "rpm does not sort $a before $b"
	fi
done
ok "version.sh: mapping and order (dpkg$($have_rpm && echo ", rpm")): ok"

version=$(packaging/version.sh)
[[ $(dpkg-deb -f "$deb" Version) == "$version-1" ]] ||
	fail "$deb: version $(dpkg-deb -f "$deb" Version), want $version-1 (stale package? run make package)"
if $have_rpm; then
	got=$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpm")
	[[ $got == "$version-1" ]] || fail "$rpm: version $got, want $version-1 (stale package? run make package)"
fi
ok "version: $version-1"

# --- size --------------------------------------------------------------------------------
for pkg in "$deb" "$rpm"; do
	size=$(stat -c %s "$pkg")
	((size <= max_size)) || fail "$pkg: $size bytes, more than $max_size"
	ok "size: ${pkg##*/}: $size bytes (max $max_size)"
done

# --- contents: path, mode, bytes ---------------------------------------------------------
# path, mode, the file in the tree it must equal.
expected=(
	"/usr/bin/xauth-agent 0755 $stage/xauth-agent"
	"/usr/lib/systemd/system/xauth-agent.service 0644 deploy/systemd/xauth-agent.service"
	"/usr/lib/systemd/system/xauth-agent@.service 0644 deploy/systemd/xauth-agent@.service"
	"/usr/lib/sysusers.d/xauth-agent.conf 0644 deploy/systemd/xauth-agent.sysusers"
	"/usr/lib/tmpfiles.d/xauth-agent.conf 0644 deploy/systemd/xauth-agent.tmpfiles"
	"/etc/xauth-agent/agent.hcl 0640 deploy/systemd/agent.hcl.example"
	"/usr/share/doc/xauth-agent/README.md 0644 README.md"
	"/usr/share/doc/xauth-agent/README.systemd.md 0644 deploy/systemd/README.md"
	"/usr/share/doc/xauth-agent/LICENSE 0644 LICENSE"
	"/usr/share/doc/xauth-agent/THIRD-PARTY-LICENSES 0644 $stage/THIRD-PARTY-LICENSES"
	"/usr/share/man/man8/xauth-agent.8.gz 0644 $stage/xauth-agent.8.gz"
)
deb_only=(
	"/usr/share/doc/xauth-agent/copyright 0644 packaging/copyright"
	"/usr/share/doc/xauth-agent/changelog.Debian.gz 0644 $stage/changelog.Debian.gz"
	"/usr/share/lintian/overrides/xauth-agent 0644 packaging/lintian-overrides"
)
# perms 0640 -> -rw-r-----
perms() {
	local out=- bits=rwxrwxrwx i
	for ((i = 0; i < 9; i++)); do
		if (((8#$1 >> (8 - i)) & 1)); then out+=${bits:i:1}; else out+=-; fi
	done
	echo "$out"
}

# deb: the listing gives modes and owners, the extracted tree the bytes.
dpkg-deb -x "$deb" "$tmp/deb"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6, $1, $2 }' | sort >"$tmp/deb.list"
want=$(for e in "${expected[@]}" "${deb_only[@]}"; do
	read -r path mode _ <<<"$e"
	echo "$path $(perms "$mode") root/root"
done | sort)
diff <(echo "$want") "$tmp/deb.list" >"$tmp/diff" ||
	fail "$deb: files differ from the expected list (< want, > package):"$'\n'"$(cat "$tmp/diff")"
for e in "${expected[@]}" "${deb_only[@]}"; do
	read -r path _ src <<<"$e"
	cmp -s "$src" "$tmp/deb$path" || fail "$deb: $path differs from $src (stale package? run make package)"
done
ok "contents: ${deb##*/}: ${#expected[@]} + ${#deb_only[@]} files, modes and bytes as expected"

if $have_rpm; then
	[[ $(rpm -qp --qf '%{FILEDIGESTALGO}' "$rpm") == 8 ]] || fail "$rpm: file digests are not SHA-256"
	rpm -qp --qf '[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} %{FILEDIGESTS}\n]' "$rpm" |
		awk '$2 !~ /^d/' | sort >"$tmp/rpm.list"
	want=$(for e in "${expected[@]}"; do
		read -r path mode src <<<"$e"
		echo "$path $(perms "$mode") root/root $(sha256sum "$src" | cut -d' ' -f1)"
	done | sort)
	diff <(echo "$want") "$tmp/rpm.list" >"$tmp/diff" ||
		fail "$rpm: files differ from the expected list (< want, > package; stale? run make package):"$'\n'"$(cat "$tmp/diff")"
	ok "contents: ${rpm##*/}: ${#expected[@]} files, modes and bytes as expected"
fi

# The binary: of the package's architecture by its ELF header; static, so that it runs on any
# glibc (Amazon Linux 2, RHEL 8); and it runs, where this machine can run it. The rpm's binary
# has the deb's bytes (the digests above).
elf=$(scripts/elf-arch.sh "$tmp/deb/usr/bin/xauth-agent")
[[ $elf == "$arch" ]] || fail "$deb: Architecture $arch, but /usr/bin/xauth-agent is an $elf ELF binary"
if $have_rpm; then
	rpm_arch=$(rpm -qp --qf '%{ARCH}' "$rpm")
	case $arch:$rpm_arch in
	amd64:x86_64 | arm64:aarch64) ;;
	*) fail "$rpm: ARCH $rpm_arch, but its binary is $arch" ;;
	esac
fi
grep -qE '^\s+build\s+CGO_ENABLED=0$' <<<"$("$GO" version -m "$tmp/deb/usr/bin/xauth-agent")" ||
	fail "$deb: /usr/bin/xauth-agent was built with cgo"
if [[ $arch == "$host_arch" ]]; then
	"$tmp/deb/usr/bin/xauth-agent" --version >/dev/null || fail "$deb: /usr/bin/xauth-agent --version failed"
	ok "binary: $arch ELF (deb Architecture$($have_rpm && echo ", rpm ARCH $rpm_arch")), static (CGO_ENABLED=0), runs"
else
	ok "binary: $arch ELF (deb Architecture$($have_rpm && echo ", rpm ARCH $rpm_arch")), static (CGO_ENABLED=0); not run on this $host_arch machine"
fi

# --- conffile ----------------------------------------------------------------------------
readonly conf=/etc/xauth-agent/agent.hcl
[[ $(dpkg-deb -I "$deb" conffiles) == "$conf" ]] ||
	fail "$deb: conffiles is \"$(dpkg-deb -I "$deb" conffiles 2>&1)\", want $conf"
if $have_rpm; then
	[[ $(rpm -qpc "$rpm") == "$conf" ]] || fail "$rpm: config files are \"$(rpm -qpc "$rpm")\", want $conf"
	flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" | awk -v f="$conf" '$2 == f { print $1 }')
	[[ $flags == *c* && $flags == *n* ]] || fail "$rpm: $conf has flags \"$flags\", want %config(noreplace) (c, n)"
fi
ok "conffile: $conf (deb conffiles$($have_rpm && echo ", rpm %config(noreplace)"))"

# --- maintainer scripts ------------------------------------------------------------------
dpkg-deb -e "$deb" "$tmp/control"
info=$(dpkg-deb -I "$deb")
for pair in postinst:postinstall prerm:preremove postrm:postremove; do
	name=${pair%%:*} src=packaging/scripts/${pair#*:}.sh
	grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$name +#!/bin/sh$" <<<"$info" ||
		fail "$deb: dpkg-deb -I shows no executable $name:"$'\n'"$info"
	cmp -s "$src" "$tmp/control/$name" || fail "$deb: $name differs from $src"
	sh -n "$src" || fail "$src: sh -n failed"
done
if $have_rpm; then
	scripts=$(rpm -qp --scripts "$rpm")
	for pair in POSTIN:postinstall:postinstall PREUN:preuninstall:preremove POSTUN:postuninstall:postremove; do
		IFS=: read -r tag name src <<<"$pair"
		grep -q "^$name scriptlet (using /bin/sh):" <<<"$scripts" || fail "$rpm: no $name scriptlet"
		[[ $(rpm -qp --qf "%{$tag}" "$rpm") == "$(<"packaging/scripts/$src.sh")" ]] ||
			fail "$rpm: $name scriptlet differs from packaging/scripts/$src.sh"
	done
fi
ok "maintainer scripts: postinst, prerm, postrm$($have_rpm && echo " (rpm: %post, %preun, %postun)")"

# --- lintian -----------------------------------------------------------------------------
if $have_lintian; then
	# With --show-overrides, --fail-on error fails for an overridden error too; so the verdict
	# is the output: no line starting "E:".
	rc=0
	out=$(lintian --fail-on none --show-overrides --display-info "$deb" 2>&1) || rc=$?
	out=$(grep -v '^running with root privileges is not recommended!$' <<<"$out" || true)
	[[ -z $out ]] || while IFS= read -r line; do echo "  $line"; done <<<"$out"
	((rc == 0)) || fail "lintian exited with status $rc"
	! grep -q '^E: ' <<<"$out" || fail "lintian reports errors for $deb (E: lines above)"
	ok "lintian: no errors ($(grep -c '^W: ' <<<"$out" || true) warnings, $(grep -c '^I: ' <<<"$out" || true) info, $(grep -c '^O: ' <<<"$out" || true) overridden)"
fi

# --- install, reinstall, remove, purge in a throw-away overlay of / ----------------------
# root, unshare and overlayfs needed; the packages' scripts run chrooted into the overlay.
install_test() { # install_test KIND: prints what it did, fails on the first surprise
	local base=$tmp/ovl-$1
	mkdir -p "$base"/{upper,work,root}
	cp "$deb" "$rpm" "$base/upper/"
	cat >"$base/test.sh" <<-EOF
		set -eu
		fail() { echo "\$*" >&2; exit 1; }
		case $1 in
		deb)
			install() { dpkg -i /$(basename "$deb") >/dev/null; }
			remove() { dpkg -r xauth-agent >/dev/null; }
			purge() { dpkg -P xauth-agent >/dev/null; }
			! dpkg -s xauth-agent >/dev/null 2>&1 || fail "xauth-agent is installed on this machine"
			;;
		rpm)
			# rpm on Debian warns that it is not Debian's installer: keep its messages for a failure.
			install() { rpm -U --replacepkgs --nodeps /$(basename "$rpm") 2>/tmp/err || { cat /tmp/err >&2; exit 1; }; }
			remove() { rpm -e xauth-agent 2>/tmp/err || { cat /tmp/err >&2; exit 1; }; }
			purge() { :; }
			;;
		esac
		install
		getent passwd xauth-agent >/dev/null || fail "no xauth-agent user after install"
		[ "\$(stat -c '%a %U:%G' /etc/xauth-agent)" = "750 root:xauth-agent" ] ||
			fail "/etc/xauth-agent: \$(stat -c '%a %U:%G' /etc/xauth-agent), want 750 root:xauth-agent"
		[ "\$(stat -c '%a %U:%G' $conf)" = "640 root:xauth-agent" ] ||
			fail "$conf: \$(stat -c '%a %U:%G' $conf), want 640 root:xauth-agent"
		systemctl enable xauth-agent.service xauth-agent@a.service >/dev/null 2>&1 || fail "systemctl enable failed"
		echo '# edited' >>$conf
		install
		[ "\$(tail -n 1 $conf)" = '# edited' ] || fail "reinstall replaced the edited $conf"
		[ "\$(stat -c '%G' $conf)" = xauth-agent ] || fail "reinstall: $conf lost its group"
		remove
		[ ! -e /usr/bin/xauth-agent ] || fail "/usr/bin/xauth-agent is still there after remove"
		! ls /etc/systemd/system/*.wants/xauth-agent*.service >/dev/null 2>&1 ||
			fail "enable links left after remove: \$(ls /etc/systemd/system/*.wants/xauth-agent*)"
		getent passwd xauth-agent >/dev/null || fail "remove deleted the xauth-agent user"
		purge
	EOF
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare --mount --fork bash -c '
		set -e
		base=$1
		mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
		mount --bind /proc "$base/root/proc"
		mount --bind /dev "$base/root/dev"
		mount -t tmpfs tmpfs "$base/root/run"
		exec chroot "$base/root" sh -s <"$base/test.sh"
	' _ "$base"
}
if [[ $arch != "$host_arch" ]]; then
	ok "install test: only for this machine's architecture ($host_arch); the scripts are the same"
elif ((EUID != 0)); then
	echo "check-packages: SKIP: install test: needs root"
elif ! unshare --mount --fork sh -c "mkdir -p $tmp/probe/u $tmp/probe/w $tmp/probe/r &&
	mount -t overlay overlay -o lowerdir=/,upperdir=$tmp/probe/u,workdir=$tmp/probe/w $tmp/probe/r" 2>/dev/null; then
	echo "check-packages: SKIP: install test: cannot mount an overlay of / here (unshare, overlayfs)"
else
	install_test deb >"$tmp/install.log" 2>&1 || fail "install test of $deb:"$'\n'"$(cat "$tmp/install.log")"
	ok "install test: ${deb##*/}: user, /etc/xauth-agent 0750, agent.hcl 0640 root:xauth-agent, edited conffile kept, remove disables units and keeps the user, purge"
	if $have_rpm; then
		install_test rpm >"$tmp/install.log" 2>&1 || fail "install test of $rpm:"$'\n'"$(cat "$tmp/install.log")"
		ok "install test: ${rpm##*/}: the same (rpm -U, rpm -e)"
	fi
fi
ok "all checks passed"
