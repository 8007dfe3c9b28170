#!/usr/bin/env bash
# build.sh: makes bin/packages/xauth-agent_VERSION-1_ARCH.deb and xauth-agent-VERSION-1.ARCH.rpm
# with nfpm (packaging/nfpm.yaml). Run by `make package`, which first builds the static binary
# (CGO_ENABLED=0) into bin/packages/stage/ and installs bin/nfpm. Here:
#   - the version from packaging/version.sh;
#   - stage/changelog.Debian.gz for this version (Debian wants one in every package);
#   - stage/xauth-agent.8.gz, the man page, from --help;
#   - stage/THIRD-PARTY-LICENSES: the license and notice texts of the Go standard library and
#     of every module linked into the binary, as the binary's module list names them;
#   - then nfpm, once per format.
# XAUTH_PKG_MAINTAINER overrides the Maintainer ("Name <address>").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly out=bin/packages
readonly stage=$out/stage
readonly nfpm=bin/nfpm
GO=${GO:-go}

fail() {
	echo "package: $*" >&2
	exit 1
}

[[ -x $nfpm ]] || fail "$nfpm not found: run make package"
[[ -x $stage/xauth-agent ]] || fail "$stage/xauth-agent not found: run make package"
# A cgo build needs the glibc it was linked against (2.34 on Debian 12), which Amazon Linux 2
# and RHEL 8 do not have; the packages carry a static binary.
grep -qE '^\s+build\s+CGO_ENABLED=0$' <<<"$("$GO" version -m "$stage/xauth-agent")" ||
	fail "$stage/xauth-agent was built with cgo: build it with CGO_ENABLED=0 (make package does)"

version=$(packaging/version.sh)
commit=$(git rev-parse HEAD)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export XAUTH_PKG_VERSION=$version
arch=$("$GO" env GOARCH)
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
mapfile -t deps < <("$GO" version -m "$stage/xauth-agent" | awk '$1 == "dep" { print $2 }')
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

# xauth-agent.8.gz: the man page is the --help text, so it cannot drift from the flags. Needs a
# binary this machine can run (no cross-architecture packages).
help=$("$stage/xauth-agent" --help 2>&1) || true
[[ $help == Usage:* ]] || fail "$stage/xauth-agent --help printed no usage:"$'\n'"$help"
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

rm -f "$out"/*.deb "$out"/*.rpm
for packager in deb rpm; do
	"$nfpm" package --config packaging/nfpm.yaml --packager "$packager" --target "$out/"
done
ls -l "$out"/*.deb "$out"/*.rpm
