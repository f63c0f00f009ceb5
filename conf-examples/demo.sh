#!/usr/bin/env bash
# `make demo`: a tour on a private lxcpath, removed at the end (also on failure).
# The Makefile runs it with .venv/bin on PATH, under runtime.tools.subreaper (so the
# daemon it starts is reaped when it goes idle, even where pid 1 does not reap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lxcpath=$(mktemp -d /tmp/trio-lxc-demo.XXXXXX)
export TRIO_LXC_RUNDIR="$lxcpath/.run" TRIO_LXC_DAEMON_IDLE=2
monitor_pid=""
cleanup() {
  [ -n "$monitor_pid" ] && kill "$monitor_pid" 2>/dev/null || true
  for c in demo1 demo2 demo3 demoapi; do lxc-stop -P "$lxcpath" -n "$c" -k >/dev/null 2>&1 || true; done
  rm -rf "$lxcpath"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step lxc-create -P "$lxcpath" -n demo1 -t busybox -f "$here/busybox.conf"
step lxc-copy -P "$lxcpath" -n demo1 -N demo2

printf '\n\033[1m$ lxc-monitor -P %s -n "demo.*" &   # the monitor bus, live\033[0m\n' "$lxcpath"
lxc-monitor -P "$lxcpath" -n 'demo.*' > >(sed -u 's/^/    [monitor] /') &
monitor_pid=$!  # lxc-monitor itself, so that killing it ends the subscription
sleep 0.5

step lxc-start -P "$lxcpath" -n demo1
step lxc-wait -P "$lxcpath" -n demo1 -s RUNNING
step lxc-ls -P "$lxcpath" --fancy
step lxc-info -P "$lxcpath" -n demo1
# The live view, as batch output: three refreshes a second apart (in a terminal,
# `lxc-top` redraws in place and follows the bus; `q` quits).
step lxc-top -P "$lxcpath" -b -d 1 --iterations 3
step lxc-execute -P "$lxcpath" -n demo2 -- sh -c 'echo "hello from pid $$ in $(hostname)"; exit 3' || echo "(exit code $?)"
# Where a start's time goes: -l TRACE logs every step (command, daemon, spawner,
# container child) with its offset from the request and the gap since the last.
step lxc-execute -P "$lxcpath" -n demo2 -l TRACE -o "$lxcpath/trace.log" -- /bin/true
printf '\n\033[1m$ grep -c start_trace %s/trace.log; grep -E "go received|pivot_root|RUNNING published|exit noticed|STOPPED published|exit reply" %s/trace.log\033[0m\n' "$lxcpath" "$lxcpath"
grep -c start_trace "$lxcpath/trace.log"
grep -E "go received|pivot_root|RUNNING published|exit noticed|STOPPED published|exit reply" "$lxcpath/trace.log"
# Confinement, seen from inside: pid 1 of an application container is a static init
# run from a sealed memfd (nothing of the host mapped) holding only fds 0-2.
step lxc-execute -P "$lxcpath" -n demo2 -- sh -c 'echo "pid 1 is $(cat /proc/1/cmdline) from $(readlink /proc/1/exe), fds: $(ls /proc/1/fd | tr "\n" " ")"'
# A key that would leave its cgroup directory is refused, naming the key.
step lxc-cgroup -P "$lxcpath" -n demo1 'memory.x/../../release_agent' || echo "(exit code $?)"
# A seccomp profile in LXC's format, compiled by the daemon, loaded in pid 1 and the
# application: mkdir is denied.
step lxc-execute -P "$lxcpath" -n demo2 -s "lxc.seccomp.profile=$here/deny-mkdir.seccomp" -- sh -c 'grep Seccomp: /proc/self/status; mkdir /tmp/x' || echo "(exit code $?)"
# Hooks run at LXC's moments with LXC's variables (here: written to a file we show;
# lxc.hook.version = 1 passes them in the environment only).
step lxc-execute -P "$lxcpath" -n demo2 -s lxc.hook.version=1 \
  -s "lxc.hook.pre-start=/bin/sh -c 'echo \$LXC_HOOK_TYPE hook of \$LXC_NAME >> $lxcpath/hooks.out'" \
  -s "lxc.hook.start-host=/bin/sh -c 'echo \$LXC_HOOK_TYPE hook: init is pid \$LXC_PID >> $lxcpath/hooks.out'" \
  -s "lxc.hook.post-stop=/bin/sh -c 'echo \$LXC_HOOK_TYPE hook, target \$LXC_TARGET >> $lxcpath/hooks.out'" -- true
step cat "$lxcpath/hooks.out"
# An unprivileged container: container root is host uid 100000 (lxc.idmap); the
# rootfs, owned by host root, is used through an idmapped mount.
step lxc-execute -P "$lxcpath" -n demo2 -s "lxc.idmap=u 0 100000 65536" -s "lxc.idmap=g 0 100000 65536" \
  -s "lxc.rootfs.options=idmap=container" -- sh -c 'echo "uid_map: $(cat /proc/self/uid_map)"; ls -ld /bin'
# A reboot: lxc-stop -r returns once the container runs again (as LXC's), a new init.
step lxc-info -P "$lxcpath" -n demo1 -p
step lxc-stop -P "$lxcpath" -n demo1 -r
step lxc-info -P "$lxcpath" -n demo1 -s -p
step lxc-stop -P "$lxcpath" -n demo1
# Storage: an overlay snapshot clone of demo1; what it writes lands in its own delta.
step lxc-copy -P "$lxcpath" -n demo1 -N demo3 -s
step lxc-execute -P "$lxcpath" -n demo3 -- sh -c 'echo hi > /written-by-demo3'
step ls "$lxcpath/demo3/overlay/delta"
step lxc-destroy -P "$lxcpath" -n demo3
step lxc-snapshot -P "$lxcpath" -n demo2
step lxc-snapshot -P "$lxcpath" -n demo2 -L
# Autostart: the whole set in one daemon request (-A: whatever lxc.start.auto says).
step lxc-autostart -P "$lxcpath" -A -L
step lxc-autostart -P "$lxcpath" -A
step lxc-ls -P "$lxcpath" --fancy
step lxc-autostart -P "$lxcpath" -A -k
# The Python API (python3-lxc's methods), blocking flavour.
step python conf-examples/api/blocking.py demoapi "$lxcpath"
step lxc-ls -P "$lxcpath" --fancy
sleep 0.3
kill "$monitor_pid" 2>/dev/null || true
monitor_pid=""
step lxc-destroy -P "$lxcpath" -n demo2 -s
step lxc-destroy -P "$lxcpath" -n demo1
