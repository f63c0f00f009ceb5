#!/usr/bin/env bash
# `make compat`: run LXC's own shell tests (../shared/lxc-tests, outside this
# repository) against our commands and compare with the expected failures.
#
#   tests/compat.sh LXC_TESTS_DIR BIN_DIR EXPECTED_FAILURES_FILE
#
# Succeeds, saying so, when LXC_TESTS_DIR does not exist (a clone outside the
# workplace that holds it). Otherwise fails when a test fails that is not listed
# in EXPECTED_FAILURES_FILE, when a listed one passes (so the list shrinks as
# issues are fixed), or when a listed one did not run.
set -uo pipefail
tests=${1:?usage: compat.sh LXC_TESTS_DIR BIN_DIR EXPECTED_FAILURES_FILE}
bin=${2:?usage: compat.sh LXC_TESTS_DIR BIN_DIR EXPECTED_FAILURES_FILE}
expected_file=${3:?usage: compat.sh LXC_TESTS_DIR BIN_DIR EXPECTED_FAILURES_FILE}
if [ ! -x "$tests/run.sh" ]; then
	echo "compat: $tests/run.sh does not exist: LXC's own tests are not run here (skipped)"
	exit 0
fi
[ -r "$expected_file" ] || { echo "compat: cannot read $expected_file" >&2; exit 2; }
expected=$(awk '{ sub(/#.*/, ""); if (NF) print $1 }' "$expected_file")
output=$(mktemp /tmp/trio-lxc-compat.XXXXXX)
trap 'rm -f "$output"' EXIT
"$tests/run.sh" "$bin" | tee "$output"

is_expected() { grep -qxF -- "$1" <<<"$expected"; }
status=0
ran=""
while read -r spec result _ _ _ log; do
	case "$result" in
	PASS) ;;
	FAIL*) ;;
	*) continue ;;
	esac
	ran="$ran $spec"
	if [ "$result" = PASS ] && is_expected "$spec"; then
		echo "compat: $spec passes now: remove it from $expected_file"
		status=1
	elif [ "$result" != PASS ] && ! is_expected "$spec"; then
		echo "compat: $spec fails and is not an expected failure; the end of its log:"
		[ -r "$log" ] && tail -n 40 "$log" | sed 's/^/    /'
		status=1
	fi
done <"$output"
# run.sh reports a test it cannot find as "NAME: no such test"
if grep -q ': no such test' "$output"; then
	grep ': no such test' "$output" | sed 's/^/compat: /'
	status=1
fi
for spec in $expected; do
	case " $ran " in *" $spec "*) ;; *)
		echo "compat: $spec is listed in $expected_file but did not run"
		status=1
		;;
	esac
done
if [ $status -eq 0 ]; then
	echo "compat: as expected ($(wc -w <<<"$expected") known failures listed in $expected_file)"
	# run.sh keeps its logs in one /tmp/lxct-run.* directory: gone when all is as
	# expected, kept (and named above) when something needs reading.
	logdir=$(awk '$NF ~ /^\/tmp\/lxct-run\./ { print $NF; exit }' "$output")
	[ -n "$logdir" ] && rm -rf -- "$(dirname "$logdir")"
fi
exit $status
