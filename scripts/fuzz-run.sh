#!/usr/bin/env bash
# Runs every native fuzz target of the agent module (and e2e/awsfake) for
# FUZZTIME each. Usage: GO=go FUZZTIME=10s scripts/fuzz-run.sh
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" right at the -fuzztime boundary when a worker is slow
# to stop (golang/go#75804, fixed in Go 1.27). That is not a finding: a
# real one writes a failing input under testdata/fuzz/. So a run that
# fails with that message alone, and wrote no input, is checked by
# replaying the target's corpus; only if the replay passes is it counted
# as the known flake. Anything else fails.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
root=$(cd "$(dirname "$0")/.." && pwd)
flakes=0

# bare_deadline: the run failed only with "context deadline exceeded" under
# its --- FAIL line, wrote no failing input and did not panic.
bare_deadline() {
	! grep -qE 'Failing input written|panic:' "$1" &&
		awk '/^--- FAIL:/ { seen = 1; if ((getline line) <= 0 || line !~ /^[ \t]+context deadline exceeded$/) bad = 1 }
			END { exit !(seen && !bad) }' "$1"
}

run_target() { # dir pkg target
	local dir=$1 pkg=$2 f=$3 log
	log=$(mktemp)
	echo "fuzz $pkg $f ($FUZZTIME)"
	if (cd "$dir" && "$GO" test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg") 2>&1 | tee "$log"; then
		rm -f "$log"
		return 0
	fi
	if bare_deadline "$log"; then
		echo "fuzz $f: stopped with a bare 'context deadline exceeded' and no failing input (golang/go#75804); replaying its corpus"
		if (cd "$dir" && "$GO" test -count=1 -run "^$f\$" "$pkg"); then
			flakes=$((flakes + 1))
			rm -f "$log"
			return 0
		fi
	fi
	rm -f "$log"
	echo "fuzz $f failed: see the output above (a failing input, if any, is under testdata/fuzz/$f)" >&2
	return 1
}

cd "$root"
for pkg in $("$GO" list ./...); do
	for f in $("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		run_target . "$pkg" "$f"
	done
done
for pkg in $(cd e2e && "$GO" list ./awsfake/...); do
	for f in $(cd e2e && "$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		run_target e2e "$pkg" "$f"
	done
done
if ((flakes > 0)); then
	echo "fuzz: all targets passed ($flakes stopped at the deadline without a finding, corpus replay clean)"
else
	echo "fuzz: all targets passed"
fi
