"""lxc.seccomp.profile: LXC's profile format (profile.py), compiled to BPF with
libseccomp in the daemon (compile.py); the container child and lxc-attach load the
BPF program (runtime.spawn.seccomp_load)."""
