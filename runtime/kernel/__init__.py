"""The Linux primitives the standard library lacks: syscalls by ctypes (linux),
pseudo-terminals (ptys), a child that waits at a gate (gated_fork).

Standard library only: the commands, the daemon and the container child all
import it.
"""
