#!/usr/bin/env bash
# release.sh OUT ARCH...: the release artifacts of HEAD for each ARCH (amd64, arm64), in OUT:
#
#   xauth-agent-VERSION-linux-ARCH            the binary (static, -trimpath, stripped)
#   xauth-agent-VERSION-linux-ARCH.cdx.json   its SBOM (CycloneDX, from the binary's module list)
#   xauth-agent-VERSION-linux-ARCH.tar.gz     binary, units, sysusers/tmpfiles, example config,
#                                             man page, READMEs and licenses
#   xauth-agent_VERSION-1_ARCH.deb            }
#   xauth-agent-VERSION-1.RPMARCH.rpm         } packaging/build.sh, as make package
#   SHA256SUMS                                sha256sum of every file above
#
# `make release` runs it after building each binary into OUT/stage/linux_ARCH/xauth-agent
# (`make build` with GOARCH=ARCH), and installs bin/nfpm and bin/cyclonedx-gomod. VERSION is
# packaging/version.sh's, from `git describe`. Nothing depends on the time, the build
# directory, the user, the umask, the time zone or the locale: SOURCE_DATE_EPOCH is the
# commit's time, so two runs from one commit give the same bytes (make test-release checks).
# XAUTH_VERSION is the version the binaries report (the Makefile's VERSION); the SBOMs name it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
readonly sbom_tool=bin/cyclonedx-gomod

fail() {
	echo "release: $*" >&2
	exit 1
}

(($# >= 2)) || fail "usage: release.sh OUT ARCH..."
out=$1
shift
[[ -x $sbom_tool ]] || fail "$sbom_tool not found: run make release"
[[ -n ${XAUTH_VERSION:-} ]] || fail "XAUTH_VERSION is not set: run make release"
export LC_ALL=C
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
version=$(packaging/version.sh)
host=$("$GO" env GOHOSTARCH)
help_bin=$out/stage/linux_$host/xauth-agent
[[ -x $help_bin ]] || fail "$help_bin not found: the man page needs a binary this $host machine" \
	"can run; release $host too"
[[ -z $(git status --porcelain --untracked-files=no) ]] ||
	echo "release: the work tree has changes that are not committed: the binaries report $XAUTH_VERSION" >&2

for arch in "$@"; do
	stage=$out/stage/linux_$arch
	name=xauth-agent-$version-linux-$arch
	GOARCH=$arch XAUTH_PKG_OUT=$out XAUTH_PKG_STAGE=$stage XAUTH_PKG_FORMATS="deb rpm tar.gz" \
		XAUTH_PKG_HELP_BIN=$help_bin GO=$GO packaging/build.sh
	install -m 0755 "$stage/xauth-agent" "$out/$name"
	# The SBOM lists the modules the binary's build info names (go version -m), with their
	# licenses from the module cache, and the binary's hashes. No serial number or time stamp:
	# those differ on every run. GOARCH: the purls name the binary's architecture, not this
	# machine's. GOPROXY=off: the modules are in the cache already (the binary was just built);
	# the tool would otherwise look for this module's own VERSION on the proxy.
	if ! GOARCH=$arch GOPROXY=off "$sbom_tool" bin -json -licenses -std -noserial -notimestamp \
		-version "$XAUTH_VERSION" -output "$out/$name.cdx.json" "$out/$name" 2>"$stage/sbom.log"; then
		cat "$stage/sbom.log" >&2
		fail "cyclonedx-gomod failed for $out/$name"
	fi
	echo "created SBOM: $out/$name.cdx.json"
done

(
	cd "$out"
	find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs -d '\n' sha256sum -- >SHA256SUMS
)
echo "release: $version ($XAUTH_VERSION), linux/{$(
	IFS=,
	echo "$*"
)} in $out:"
cat "$out/SHA256SUMS"
