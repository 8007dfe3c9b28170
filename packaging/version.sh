#!/usr/bin/env bash
# version.sh [DESCRIBE COUNT]: prints the package version of HEAD, one string that dpkg and rpm
# both accept and order the same way. DESCRIBE is `git describe --tags --always` and COUNT is
# `git rev-list --count HEAD`; scripts/check-packages.sh passes both to test the mapping.
#
#   no tag yet:            c345bde                  -> 0.0.0~git20.c345bde  (20 commits)
#   on a tag:              v1.2.3                   -> 1.2.3
#   pre-release tag:       v1.3.0-rc.1              -> 1.3.0~rc.1
#   commits after a tag:   v1.2.3-4-gabc1234        -> 1.2.3+git4.abc1234
#
# "~" sorts before anything, even the end of the string, so 0.0.0~git20 and 1.3.0~rc.1 come
# before 0.0.0 and 1.3.0; "+git" sorts after the tag it follows. No "-": dpkg reads it as the
# start of the revision and rpm refuses it in a version. The commit count keeps untagged builds
# in order; the hash only names the commit. A dirty tree gets the version of its commit.
set -euo pipefail

fail() {
	echo "version.sh: $*" >&2
	exit 1
}

if (($# == 2)); then
	describe=$1 count=$2
elif (($# == 0)); then
	cd "$(dirname "${BASH_SOURCE[0]}")/.."
	describe=$(git describe --tags --always)
	count=$(git rev-list --count HEAD)
else
	fail "usage: version.sh [DESCRIBE COUNT]"
fi

if [[ $describe =~ ^[0-9a-f]{4,40}$ ]]; then
	# No tag reachable: describe prints the abbreviated hash alone.
	version="0.0.0~git${count}.${describe}"
else
	tag=$describe suffix=
	if [[ $describe =~ ^(.+)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		tag=${BASH_REMATCH[1]}
		suffix="+git${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
	fi
	[[ ${tag#v} =~ ^[0-9][0-9A-Za-z.-]*$ ]] ||
		fail "tag $tag does not look like a version: want v1.2.3 or v1.2.3-rc.1"
	tag=${tag#v}
	# A pre-release after "-" (1.3.0-rc.1) must sort before its release: "~" does that.
	version="${tag//-/\~}${suffix}"
fi
echo "$version"
