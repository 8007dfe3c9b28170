#!/usr/bin/env bash
# check-units.sh: checks the systemd files in deploy/systemd without a running systemd (works
# in a container whose PID 1 is not systemd):
#   - systemd-analyze verify prints nothing for either unit;
#   - systemd-analyze security --offline scores each unit at most 1.5;
#   - the two units differ only in the lines that name the instance;
#   - systemd-sysusers and systemd-tmpfiles accept the sysusers.d and tmpfiles.d files.
# Everything runs against a scratch root (--root=), so drop-ins and units installed on this
# machine cannot change the result. Needs systemd-analyze, systemd-sysusers and
# systemd-tmpfiles (Debian/Ubuntu: apt-get install systemd). Exits 1 on the first failure.
set -euo pipefail

# Highest acceptable overall exposure, in tenths (systemd-analyze prints 1.5 for 15).
readonly max_exposure=15
readonly units=(xauth-agent.service xauth-agent@.service)
# Lines allowed to differ between the plain unit and the template, by key.
readonly instance_keys='Description|ExecStart|RuntimeDirectory|StateDirectory|Conflicts'

cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=deploy/systemd

fail() {
	echo "check-units: FAIL: $*" >&2
	exit 1
}

for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	command -v "$tool" >/dev/null ||
		fail "$tool not found: install systemd (apt-get install systemd); no running systemd is needed"
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# The scratch root: what verify resolves. The units' executables, as stubs, with /bin a link
# to usr/bin as on merged-/usr systems; the units; and empty stand-ins for the targets they and
# their default dependencies name, so that the result does not depend on this machine's units.
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/etc/systemd/system" \
	"$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
ln -s usr/bin "$root/bin"
for exe in xauth-agent kill; do
	printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/$exe"
	chmod 0755 "$root/usr/bin/$exe"
done
for target in sysinit.target basic.target shutdown.target network-online.target multi-user.target; do
	printf '[Unit]\nDescription=stand-in for %s\n' "$target" >"$root/usr/lib/systemd/system/$target"
done
for unit in "${units[@]}"; do
	cp "$src/$unit" "$root/etc/systemd/system/$unit"
done

for unit in "${units[@]}"; do
	# verify exits 0 on warnings such as an unknown key, so any output fails the check.
	if ! out=$(systemd-analyze verify --root="$root" "$root/etc/systemd/system/$unit" 2>&1) || [[ -n $out ]]; then
		fail "systemd-analyze verify $src/$unit:"$'\n'"$out"
	fi
	echo "check-units: verify $unit: clean"

	rc=0
	out=$(systemd-analyze security --offline=true --threshold="$max_exposure" --root="$root" \
		"$root/etc/systemd/system/$unit" 2>&1) || rc=$?
	score=$(sed -nE 's/.*Overall exposure level for [^:]+: ([0-9]+)\.([0-9]).*/\1.\2/p' <<<"$out")
	[[ -n $score ]] || fail "systemd-analyze security $src/$unit printed no overall exposure:"$'\n'"$out"
	tenths=$((10#${score%.*} * 10 + 10#${score#*.}))
	if ((tenths > max_exposure || rc != 0)); then
		fail "$src/$unit: exposure $score, want at most $((max_exposure / 10)).$((max_exposure % 10)); what is exposed:"$'\n'"$(grep '✗' <<<"$out")"
	fi
	echo "check-units: security $unit: exposure $score (max $((max_exposure / 10)).$((max_exposure % 10)))"
done

# The template must carry the same settings as the plain unit.
settings() { grep -vE "^[[:space:]]*(#|;|$)|^(${instance_keys})=" "$src/$1"; }
if ! out=$(diff <(settings "${units[0]}") <(settings "${units[1]}")); then
	fail "${units[0]} and ${units[1]} differ beyond the lines naming the instance (${instance_keys//|/, }):"$'\n'"$out"
fi
echo "check-units: ${units[0]} and ${units[1]}: same settings"

# sysusers.d: creates the user in the scratch root; anything printed but "Creating ..." is a
# complaint. tmpfiles.d: --clean parses every line and resolves its user and group in the
# scratch root, but creates and chowns nothing, so it works without root.
cp "$src/xauth-agent.sysusers" "$root/usr/lib/sysusers.d/xauth-agent.conf"
cp "$src/xauth-agent.tmpfiles" "$root/usr/lib/tmpfiles.d/xauth-agent.conf"
if ! out=$(systemd-sysusers --root="$root" 2>&1) || grep -vqE '^(Creating |$)' <<<"$out"; then
	fail "systemd-sysusers $src/xauth-agent.sysusers:"$'\n'"$out"
fi
grep -q '^xauth-agent:' "$root/etc/passwd" || fail "$src/xauth-agent.sysusers does not create the user xauth-agent"
echo "check-units: sysusers: clean"
if ! out=$(systemd-tmpfiles --root="$root" --clean 2>&1) || [[ -n $out ]]; then
	fail "systemd-tmpfiles $src/xauth-agent.tmpfiles:"$'\n'"$out"
fi
echo "check-units: tmpfiles: clean"
