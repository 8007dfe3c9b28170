#!/usr/bin/env bash
# build.sh: packages one architecture's static binary with nfpm (packaging/nfpm.yaml):
#   OUT/xauth-agent_VERSION-1_ARCH.deb and OUT/xauth-agent-VERSION-1.RPMARCH.rpm, and with
#   XAUTH_PKG_FORMATS="deb rpm tar.gz" also OUT/xauth-agent-VERSION-linux-ARCH.tar.gz.
# `make package` runs it for this machine's architecture (OUT bin/packages, STAGE
# bin/packages/stage); `make release` (packaging/release.sh) once per release architecture.
# The caller builds the binary into STAGE/xauth-agent first (`make build`: static, -trimpath,
# stripped) and installs bin/nfpm. Here:
#   - the version from packaging/version.sh;
#   - STAGE/changelog.Debian.gz for this version (Debian wants one in every package);
#   - STAGE/xauth-agent.8.gz, the man page, from --help;
#   - STAGE/THIRD-PARTY-LICENSES: the license and notice texts of the Go standard library and
#     of every module linked into the binary, as the binary's module list names them;
#   - then nfpm, once per format, and tar for the tarball.
# Every time stamp is SOURCE_DATE_EPOCH (default: the commit's time), so the same commit gives
# the same bytes.
# Environment:
#   GOARCH                the binary's architecture (default: go env GOARCH)
#   XAUTH_PKG_OUT         OUT (default bin/packages)
#   XAUTH_PKG_STAGE       STAGE (default OUT/stage)
#   XAUTH_PKG_FORMATS     default "deb rpm"
#   XAUTH_PKG_HELP_BIN    a binary of the same source this machine can run, for the man page
#                         when GOARCH is not this machine's (default STAGE/xauth-agent)
#   XAUTH_PKG_MAINTAINER  the Maintainer ("Name <address>")
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly out=${XAUTH_PKG_OUT:-bin/packages}
readonly stage=${XAUTH_PKG_STAGE:-$out/stage}
readonly formats=${XAUTH_PKG_FORMATS:-deb rpm}
readonly nfpm=bin/nfpm
GO=${GO:-go}

fail() {
	echo "package: $*" >&2
	exit 1
}

[[ -x $nfpm ]] || fail "$nfpm not found: run make package"
[[ -x $stage/xauth-agent ]] || fail "$stage/xauth-agent not found: run make package"
arch=$("$GO" env GOARCH)
buildinfo=$("$GO" version -m "$stage/xauth-agent")
# A cgo build needs the glibc it was linked against (2.34 on Debian 12), which Amazon Linux 2
# and RHEL 8 do not have; the packages carry a static binary.
grep -qE '^\s+build\s+CGO_ENABLED=0$' <<<"$buildinfo" ||
	fail "$stage/xauth-agent was built with cgo: build it with CGO_ENABLED=0 (make package does)"
grep -qE "^\s+build\s+GOARCH=$arch\$" <<<"$buildinfo" ||
	fail "$stage/xauth-agent was not built for $arch: build it with GOARCH=$arch, or package it with that GOARCH"

version=$(packaging/version.sh)
commit=$(git rev-parse HEAD)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export XAUTH_PKG_VERSION=$version
export XAUTH_PKG_ARCH=$arch
export XAUTH_PKG_STAGE=$stage
export XAUTH_PKG_MAINTAINER=${XAUTH_PKG_MAINTAINER:-"xauth-agent maintainers <maintainers@users.noreply.r-seed-e9b28b6f.example>"}

# changelog.Debian.gz: one entry, for this build. gzip -n: no name or time stamp inside.
{
	printf 'xauth-agent (%s-1) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from commit %s (%s).\n\n' "$commit" "$(git describe --tags --always)"
	printf ' -- %s  %s\n' "$XAUTH_PKG_MAINTAINER" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$stage/changelog.Debian.gz"

# THIRD-PARTY-LICENSES: each distinct text once, after the list of modules it belongs to.
license_files() {
	find "$1" -maxdepth 1 -type f \( -iname 'licen[cs]e*' -o -iname 'copying*' -o -iname 'notice*' \
		-o -iname 'patents*' \) | LC_ALL=C sort
}
# spdx FILE: the SPDX id of a license text, from its wording; nothing for one not known here.
spdx() {
	if grep -q 'Mozilla Public License' "$1" && grep -qi 'version 2\.0' "$1"; then
		echo MPL-2.0
	elif grep -q 'Apache License' "$1" && grep -qi 'version 2\.0' "$1"; then
		echo Apache-2.0
	elif grep -q 'Permission is hereby granted, free of charge' "$1"; then
		echo MIT
	elif grep -q 'Redistribution and use in source and binary forms' "$1" && grep -q 'Neither the name' "$1"; then
		echo BSD-3-Clause
	fi
}
declare -A text_of=() modules_of=() licenses=()
order=()
add_texts() { # add_texts NAME DIR
	local files file sum id
	files=$(license_files "$2")
	[[ -n $files ]] || fail "no license file in $2 ($1): cannot ship it without one"
	while read -r file; do
		if [[ ${file##*/} == [LlCc]* ]]; then # LICENSE, COPYING; not NOTICE or PATENTS
			id=$(spdx "$file")
			[[ -n $id ]] || fail "$1: license $file not recognised: read it, then add it to the" \
				"license in packaging/nfpm.yaml, to packaging/copyright and to spdx() in $0"
			licenses[$id]=1
		fi
		sum=$(sha256sum "$file" | cut -d' ' -f1)
		if [[ -z ${text_of[$sum]:-} ]]; then
			text_of[$sum]=$file
			order+=("$sum")
		fi
		modules_of[$sum]+="  $1: ${file##*/}"$'\n'
	done <<<"$files"
}
add_texts "Go standard library $("$GO" env GOVERSION)" "$("$GO" env GOROOT)"
mapfile -t deps < <(awk '$1 == "dep" { print $2 }' <<<"$buildinfo")
while read -r path ver dir; do
	[[ -n $dir ]] || fail "module $path $ver is not in the module cache: run go mod download"
	add_texts "$path $ver" "$dir"
done < <("$GO" list -m -f '{{.Path}} {{.Version}} {{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' "${deps[@]}")
{
	echo "Third-party software in /usr/bin/xauth-agent $version: the Go standard library and"
	echo "${#deps[@]} Go modules, with their license and notice texts. Each text follows the list of"
	echo "the modules it comes from. xauth-agent's own license is in LICENSE."
	for sum in "${order[@]}"; do
		printf '\n%s\n%s%s\n\n' "$(printf '=%.0s' {1..78})" "${modules_of[$sum]}" "$(printf -- '-%.0s' {1..78})"
		cat "${text_of[$sum]}"
	done
} >"$stage/THIRD-PARTY-LICENSES"
# The packages' license must name every license linked in.
declared=$(sed -n 's/^license: //p' packaging/nfpm.yaml)
for id in "${!licenses[@]}"; do
	[[ " $declared " == *" $id "* ]] ||
		fail "a module is under $id, which packaging/nfpm.yaml's license ($declared) and packaging/copyright lack"
done

# xauth-agent.8.gz: the man page is the --help text, so it cannot drift from the flags. It needs
# a binary this machine can run: for another architecture, XAUTH_PKG_HELP_BIN, built from the
# same source (the flags do not depend on the architecture).
help_bin=${XAUTH_PKG_HELP_BIN:-$stage/xauth-agent}
if [[ $help_bin == "$stage/xauth-agent" && $arch != "$("$GO" env GOHOSTARCH)" ]]; then
	fail "cannot run the $arch binary on this $("$GO" env GOHOSTARCH) machine for the man page:" \
		"set XAUTH_PKG_HELP_BIN to a binary of the same source built for this machine"
fi
help=$("$help_bin" --help 2>&1) || true
[[ $help == Usage:* ]] || fail "$help_bin --help printed no usage:"$'\n'"$help"
# Plain text for roff: \ becomes \e, - becomes \- (a minus, so that copied flags work), and
# every line starts with \& so that none can begin with a request (. or ').
roff() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e 's/^/\\\&/'; }
{
	printf '.TH XAUTH-AGENT 8 %s "xauth-agent %s" "System Administration"\n' \
		"$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" "$(roff <<<"$version")"
	printf '.SH NAME\nxauth\\-agent \\- Vault token agent for EC2 instances\n'
	printf '.SH DESCRIPTION\n.nf\n'
	roff <<<"$help"
	printf '.fi\n.SH FILES\n.nf\n'
	roff <<-'EOF'
		/etc/xauth-agent/agent.hcl    config of xauth-agent.service
		/etc/xauth-agent/NAME.hcl     config of xauth-agent@NAME.service
		/run/xauth-agent/             token files (RuntimeDirectory=)
		/var/lib/xauth-agent/nonce    ec2 client nonce (StateDirectory=)
	EOF
	printf '.fi\n.SH SEE ALSO\n.nf\n'
	roff <<-'EOF'
		/usr/share/doc/xauth-agent/README.md
		/usr/share/doc/xauth-agent/README.systemd.md
	EOF
	printf '.fi\n'
} | gzip -9n >"$stage/xauth-agent.8.gz"

# The tarball: the same files for an installation by hand, laid out like the repository, so
# that deploy/systemd/README.md's install commands work in the unpacked directory.
tarball() {
	local name=xauth-agent-$version-linux-$arch
	local tree=$stage/tar dir=$stage/tar/$name
	rm -rf "$tree"
	install -d -m 0755 "$dir" "$dir/bin" "$dir/deploy" "$dir/deploy/systemd" "$dir/man" "$dir/man/man8"
	install -m 0755 "$stage/xauth-agent" "$dir/bin/"
	install -m 0644 deploy/systemd/xauth-agent.service deploy/systemd/xauth-agent@.service \
		deploy/systemd/xauth-agent.sysusers deploy/systemd/xauth-agent.tmpfiles \
		deploy/systemd/agent.hcl.example deploy/systemd/README.md "$dir/deploy/systemd/"
	install -m 0644 "$stage/xauth-agent.8.gz" "$dir/man/man8/"
	install -m 0644 README.md LICENSE "$stage/THIRD-PARTY-LICENSES" "$dir/"
	# Same bytes every time: names sorted, one time stamp, owner root, no user or group names
	# (ustar has no atime or ctime), and gzip -n stores no name or time.
	tar --create --format=ustar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
		--numeric-owner --directory="$tree" "$name" | gzip -9n >"$out/$name.tar.gz"
	rm -rf "$tree"
	echo "created package: $out/$name.tar.gz"
}

# Only this architecture's packages: a release puts every architecture's in one directory.
rpm_arch=$arch
case $arch in
amd64) rpm_arch=x86_64 ;;
arm64) rpm_arch=aarch64 ;;
esac
rm -f "$out/xauth-agent_"*"_$arch.deb" "$out/xauth-agent-"*".$rpm_arch.rpm" "$out/xauth-agent-"*"-linux-$arch.tar.gz"
for format in $formats; do
	case $format in
	deb | rpm) "$nfpm" package --config packaging/nfpm.yaml --packager "$format" --target "$out/" ;;
	tar.gz) tarball ;;
	*) fail "XAUTH_PKG_FORMATS: unknown format $format (deb, rpm, tar.gz)" ;;
	esac
done
