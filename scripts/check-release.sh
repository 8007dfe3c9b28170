#!/usr/bin/env bash
# check-release.sh RELEASE AGAIN ARCH...: checks the artifacts `make release` put in RELEASE
# (bin/release), given a second release of the same commit in AGAIN (make test-release builds
# it in another directory, with another umask, time zone and locale):
#   - reproducible: AGAIN holds the same files, byte for byte;
#   - RELEASE holds exactly the expected files, and SHA256SUMS lists each with its hash;
#   - per ARCH, the binary: its ELF header names ARCH; the Go build info says GOARCH=ARCH,
#     CGO_ENABLED=0, -trimpath, -s -w and the version; no build path in it;
#   - the tarball: exactly the expected entries, modes, owner 0/0 and the commit's time, and
#     each file byte for byte its source (the binary is the released one);
#   - the deb and the rpm: scripts/check-packages.sh (contents, ELF and package architecture,
#     conffile, maintainer scripts, lintian, size <= 10 MB; install test for this machine's);
#   - the SBOM: CycloneDX JSON without serial number or time stamp, naming the version, the
#     binary's SHA-256, ARCH in every package URL, and exactly the binary's modules.
# XAUTH_VERSION is the version the binaries report (the Makefile's VERSION). Needs jq, readelf
# (binutils), tar, gzip and what check-packages.sh needs. Exits 1 on the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}

fail() {
	echo "check-release: FAIL: $*" >&2
	exit 1
}
ok() { echo "check-release: $*"; }

(($# >= 3)) || fail "usage: check-release.sh RELEASE AGAIN ARCH..."
rel=$1 again=$2
shift 2
arches=("$@")
[[ -n ${XAUTH_VERSION:-} ]] || fail "XAUTH_VERSION is not set: run make test-release"
command -v jq >/dev/null || fail "jq not found: apt-get install jq"
command -v readelf >/dev/null || fail "readelf not found: apt-get install binutils"
export LC_ALL=C
version=$(packaging/version.sh)
sde=$(git log -1 --format=%ct)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# files DIR: the artifacts in DIR, one a line (the stage directory is not one).
files() { find "$1" -maxdepth 1 -type f -printf '%P\n' | sort; }

# --- reproducible ---------------------------------------------------------------------------
if ! diff <(files "$rel") <(files "$again") >"$tmp/diff"; then
	fail "the two releases hold different files (< $rel, > $again):"$'\n'"$(cat "$tmp/diff")"
fi
differ=()
while read -r f; do
	cmp -s "$rel/$f" "$again/$f" || differ+=("$f")
done < <(files "$rel")
((${#differ[@]} == 0)) ||
	fail "two releases of one commit differ in: ${differ[*]} (diffoscope $rel/${differ[0]} $again/${differ[0]} shows how)"
ok "reproducible: $(files "$rel" | wc -l) files byte for byte the same in a second release (other directory, umask, TZ, locale)"

# --- the file list and SHA256SUMS ------------------------------------------------------------
want=SHA256SUMS
for arch in "${arches[@]}"; do
	case $arch in
	amd64) rpm_arch=x86_64 ;;
	arm64) rpm_arch=aarch64 ;;
	*) fail "no rpm architecture known for $arch" ;;
	esac
	base=xauth-agent-$version-linux-$arch
	want+=$'\n'"$base"$'\n'"$base.cdx.json"$'\n'"$base.tar.gz"
	want+=$'\n'"xauth-agent_$version-1_$arch.deb"$'\n'"xauth-agent-$version-1.$rpm_arch.rpm"
done
diff <(sort <<<"$want") <(files "$rel") >"$tmp/diff" ||
	fail "$rel: files differ from the expected list (< want, > release):"$'\n'"$(cat "$tmp/diff")"
diff <(grep -v '^SHA256SUMS$' <<<"$want" | sort) <(sed -E 's/^[0-9a-f]{64}  //' "$rel/SHA256SUMS") >"$tmp/diff" ||
	fail "$rel/SHA256SUMS does not list every artifact once, in order (< want, > listed):"$'\n'"$(cat "$tmp/diff")"
(cd "$rel" && sha256sum --check --strict --quiet SHA256SUMS) || fail "$rel/SHA256SUMS: a hash does not match"
ok "files: $(wc -l <<<"$want") as expected; SHA256SUMS lists and matches each"

# no_paths FILE...: none of the build's directories appears in FILE.
paths=()
for p in "$PWD" "$("$GO" env GOROOT)" "$("$GO" env GOMODCACHE)" "$("$GO" env GOCACHE)"; do
	[[ ${#p} -lt 4 ]] || paths+=("$p") # never "/" or ""
done
no_paths() {
	local f p
	for f in "$@"; do
		for p in "${paths[@]}"; do
			! grep -qF -- "$p" "$f" || fail "$f holds the build path $p"
		done
	done
}
# q FILTER: jq FILTER on the SBOM in $sbom; prop NAME: the value of its metadata property NAME.
q() { jq -r "$1" "$sbom"; }
prop() { q ".metadata.properties[] | select(.name == \"$1\") | .value"; }

for arch in "${arches[@]}"; do
	base=xauth-agent-$version-linux-$arch
	bin=$rel/$base
	stage=$rel/stage/linux_$arch

	# --- the binary --------------------------------------------------------------------------
	elf=$(scripts/elf-arch.sh "$bin")
	[[ $elf == "$arch" ]] || fail "$bin: the ELF header names $elf, want $arch"
	info=$("$GO" version -m "$bin")
	for want in "GOARCH=$arch" GOOS=linux CGO_ENABLED=0 -trimpath=true; do
		grep -qE "^\s+build\s+$want$" <<<"$info" || fail "$bin: the build info lacks $want:"$'\n'"$info"
	done
	# Static: no program interpreter, no dynamic section. Stripped (-s -w): no symbol table, no
	# DWARF. (-trimpath keeps -ldflags out of the build info, so the sections tell.)
	sections=$(readelf --section-headers --wide "$bin" | sed -nE 's/^\s*\[\s*[0-9]+\]\s+(\S+).*/\1/p')
	[[ -n $sections ]] || fail "$bin: readelf lists no sections"
	extra=$(grep -E '^\.(interp|dynamic|symtab|strtab|debug_.*|zdebug_.*)$' <<<"$sections" || true)
	[[ -z $extra ]] || fail "$bin: not static and stripped, it has the sections:"$'\n'"$extra"
	grep -qaF -- "$XAUTH_VERSION" "$bin" || fail "$bin: does not hold its version $XAUTH_VERSION"
	if [[ $arch == "$("$GO" env GOHOSTARCH)" ]]; then
		got=$("$bin" --version) || fail "$bin --version failed"
		[[ $got == "xauth-agent $XAUTH_VERSION" ]] || fail "$bin --version: $got, want xauth-agent $XAUTH_VERSION"
	fi
	no_paths "$bin"
	ok "$base: $arch ELF header, static, -trimpath, stripped, version $XAUTH_VERSION, no build paths"

	# --- the tarball -------------------------------------------------------------------------
	tarball=$rel/$base.tar.gz
	gzip -t "$tarball" || fail "$tarball: not a valid gzip file"
	time=$(date -u -d "@$sde" '+%Y-%m-%d %H:%M:%S')
	# mode owner path source (a directory has no source)
	entries=(
		"drwxr-xr-x 0/0 $base/ -"
		"-rw-r--r-- 0/0 $base/LICENSE LICENSE"
		"-rw-r--r-- 0/0 $base/README.md README.md"
		"-rw-r--r-- 0/0 $base/THIRD-PARTY-LICENSES $stage/THIRD-PARTY-LICENSES"
		"drwxr-xr-x 0/0 $base/bin/ -"
		"-rwxr-xr-x 0/0 $base/bin/xauth-agent $bin"
		"drwxr-xr-x 0/0 $base/deploy/ -"
		"drwxr-xr-x 0/0 $base/deploy/systemd/ -"
		"-rw-r--r-- 0/0 $base/deploy/systemd/README.md deploy/systemd/README.md"
		"-rw-r--r-- 0/0 $base/deploy/systemd/agent.hcl.example deploy/systemd/agent.hcl.example"
		"-rw-r--r-- 0/0 $base/deploy/systemd/xauth-agent.service deploy/systemd/xauth-agent.service"
		"-rw-r--r-- 0/0 $base/deploy/systemd/xauth-agent.sysusers deploy/systemd/xauth-agent.sysusers"
		"-rw-r--r-- 0/0 $base/deploy/systemd/xauth-agent.tmpfiles deploy/systemd/xauth-agent.tmpfiles"
		"-rw-r--r-- 0/0 $base/deploy/systemd/xauth-agent@.service deploy/systemd/xauth-agent@.service"
		"drwxr-xr-x 0/0 $base/man/ -"
		"drwxr-xr-x 0/0 $base/man/man8/ -"
		"-rw-r--r-- 0/0 $base/man/man8/xauth-agent.8.gz $stage/xauth-agent.8.gz"
	)
	want=$(for e in "${entries[@]}"; do
		read -r mode owner path _ <<<"$e"
		echo "$mode $owner $time $path"
	done)
	got=$(TZ=UTC tar --list --verbose --full-time --numeric-owner -zf "$tarball" |
		awk '{ print $1, $2, $4, $5, $6 }')
	diff <(echo "$want") <(echo "$got") >"$tmp/diff" ||
		fail "$tarball: entries differ (< want, > tarball: mode owner time path):"$'\n'"$(cat "$tmp/diff")"
	mkdir "$tmp/$arch"
	tar --extract -zf "$tarball" -C "$tmp/$arch"
	for e in "${entries[@]}"; do
		read -r _ _ path src <<<"$e"
		[[ $src == - ]] || cmp -s "$src" "$tmp/$arch/$path" || fail "$tarball: $path differs from $src"
	done
	gzip -dc "$stage/xauth-agent.8.gz" >"$tmp/$arch.8"
	no_paths "$stage/THIRD-PARTY-LICENSES" "$tmp/$arch.8"
	ok "${tarball##*/}: ${#entries[@]} entries, modes, owner 0/0, time $time UTC, bytes as expected"

	# --- the packages ------------------------------------------------------------------------
	case $arch in
	amd64) rpm_arch=x86_64 ;;
	arm64) rpm_arch=aarch64 ;;
	esac
	GO=$GO scripts/check-packages.sh "$rel/xauth-agent_$version-1_$arch.deb" \
		"$rel/xauth-agent-$version-1.$rpm_arch.rpm" "$stage"

	# --- the SBOM ----------------------------------------------------------------------------
	sbom=$rel/$base.cdx.json
	jq -e . "$sbom" >/dev/null || fail "$sbom: not JSON"
	[[ $(q .bomFormat) == CycloneDX ]] || fail "$sbom: bomFormat $(q .bomFormat), want CycloneDX"
	[[ $(q '.serialNumber // "none"') == none && $(q '.metadata.timestamp // "none"') == none ]] ||
		fail "$sbom: has a serial number or a time stamp, which differ on every run"
	[[ $(q .metadata.component.version) == "$XAUTH_VERSION" ]] ||
		fail "$sbom: version $(q .metadata.component.version), want $XAUTH_VERSION"
	[[ $(prop cdx:gomod:binary:hash:SHA-256) == "$(sha256sum "$bin" | cut -d' ' -f1)" ]] ||
		fail "$sbom: the binary's SHA-256 is not that of $bin"
	[[ $(prop cdx:gomod:build:env:GOARCH) == "$arch" ]] || fail "$sbom: GOARCH $(prop cdx:gomod:build:env:GOARCH), want $arch"
	others=$(q '[.metadata.component.purl, .components[].purl] | map(select(test("goarch=") and (test("goarch='"$arch"'(&|$)") | not))) | .[]')
	[[ -z $others ]] || fail "$sbom: package URLs of another architecture:"$'\n'"$others"
	diff <(awk '$1 == "dep" { print $2 "@" $3 }' <<<"$info" | sort) \
		<(q '.components[] | select(.name != "std") | .name + "@" + .version' | sort) >"$tmp/diff" ||
		fail "$sbom: modules differ from the binary's (< go version -m, > SBOM):"$'\n'"$(cat "$tmp/diff")"
	no_paths "$sbom"
	ok "${sbom##*/}: CycloneDX $(q .specVersion), no serial or time stamp, version, binary SHA-256, $arch purls, $(q '.components | length') components = the binary's modules + std"
done
ok "all checks passed"
