#!/usr/bin/env bash
# `make demo`: a tour of what trio-lxc can do today, on a private lxcpath that is
# removed at the end (also on failure). Run by the Makefile with .venv/bin on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lxcpath=$(mktemp -d /tmp/trio-lxc-demo.XXXXXX)
export TRIO_LXC_RUNDIR="$lxcpath/.run"
cleanup() { rm -rf "$lxcpath"; }
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step lxc-create -P "$lxcpath" -n demo1 -t busybox -f "$here/busybox.conf"
step lxc-copy -P "$lxcpath" -n demo1 -N demo2
step lxc-ls -P "$lxcpath" --fancy
step lxc-info -P "$lxcpath" -n demo2
step lxc-info -P "$lxcpath" -n demo2 -c lxc.uts.name -c lxc.rootfs.path
step ls "$lxcpath/demo2/rootfs"
printf '\n\033[1m$ lxc-create -P %s -n demo1 -t busybox   # again: refused\033[0m\n' "$lxcpath"
lxc-create -P "$lxcpath" -n demo1 -t busybox -f "$here/busybox.conf" || echo "(exit code $?)"
step lxc-destroy -P "$lxcpath" -n demo2
step lxc-destroy -P "$lxcpath" -n demo1
step lxc-ls -P "$lxcpath" -1
step lxc-checkconfig
printf '\nStarting containers and the monitor bus arrive with the runtime core (see CHANGELOG.md).\n'
