"""OCI runtime support: what `trio-lxc-oci` (cli/oci.py) needs beyond the LXC runtime.

- `spec`: a bundle's config.json -> an LXC config (text) the daemon starts, plus
  what only the OCI command acts on (the argv, terminal, hooks). Every field is
  mapped or refused with its JSON path; nothing is skipped silently.
- `cgroup_keys`: linux.resources -> `lxc.cgroup.*`/`lxc.cgroup2.*` lines for the
  host's cgroup layout (v1, v2 or hybrid).
- `state`: the OCI state kept beside the container's LXC directory in `--root`.

The container itself is an ordinary container of the `--root` "lxcpath": the
same daemon supervises it, the bus shows its states, `lxc-ls -P ROOT` lists it.
The OCI "created" state is the init waiting before its exec
(`runtime.spawn.exec_gate`).
"""
