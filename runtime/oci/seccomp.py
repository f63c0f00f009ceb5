"""linux.seccomp (the OCI JSON form) -> an LXC version 2 profile, compiled as any other.

The profile is written to the container's directory and named by
`lxc.seccomp.profile`, so it goes through the runtime's own parser and the same
libseccomp binding (runtime.seccomp): the daemon compiles it when the start
reads the config (a bad rule fails `create`), the child loads it last while
root, and an `exec`'d process gets the same program from the runtime record.

Mapped: defaultAction and defaultErrnoRet (the policy line), each syscalls
entry (one rule per name) with action, errnoRet and args (index, value,
valueTwo, op; SCMP_CMP_MASKED_EQ's mask is `value`, as libseccomp orders them).
Actions: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL/SCMP_ACT_KILL_THREAD,
SCMP_ACT_TRAP. Refused, named: SCMP_ACT_KILL_PROCESS, SCMP_ACT_LOG,
SCMP_ACT_TRACE, SCMP_ACT_NOTIFY, listenerPath, flags, and architectures the
host cannot run (on x86_64 the filter always covers the x86_64, x86 and x32
ABIs: runtime.seccomp.compile). Syscall names this libseccomp does not know are
skipped, as runc and LXC skip them.
"""

from __future__ import annotations

from runtime.oci.errors import SpecError, unsupported
from runtime.oci.node import Node

EPERM = 1
_ACTIONS = {
    "SCMP_ACT_ALLOW": "allow",
    "SCMP_ACT_KILL": "kill",
    "SCMP_ACT_KILL_THREAD": "kill",
    "SCMP_ACT_TRAP": "trap",
}
_OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)  # fmt: skip
#: Architectures whose rules this host applies (the x86_64 family).
_ARCHES = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")


def _action(node: Node, errno_node: Node | None, default_errno: int) -> str:
    name = node.text()
    if name == "SCMP_ACT_ERRNO":
        return f"errno {errno_node.integer() if errno_node is not None else default_errno}"
    if name not in _ACTIONS:
        raise SpecError(node.path, f"action {name} is not supported")
    return _ACTIONS[name]


def profile_text(node: Node) -> str:
    """The LXC v2 profile for linux.seccomp; SpecError naming the field it cannot take."""
    node.fields(
        ("defaultAction", "defaultErrnoRet", "architectures", "syscalls"),
        refused=("flags", "listenerPath", "listenerMetadata"),
    )
    default_node = node.get("defaultAction")
    if default_node is None:
        raise SpecError(f"{node.path}.defaultAction", "is required")
    errno_node = node.get("defaultErrnoRet")
    default_errno = errno_node.integer() if errno_node is not None else EPERM
    default = _action(default_node, errno_node, default_errno)
    arches = node.get("architectures")
    for item in arches.items() if arches is not None else []:
        if item.text() not in _ARCHES:
            raise unsupported(item.path)
    lines = ["2", "denylist" if default == "allow" else f"allowlist {default}"]
    syscalls = node.get("syscalls")
    for rule in syscalls.items() if syscalls is not None else []:
        rule.fields(("names", "action", "errnoRet", "args"), refused=("comment", "includes", "excludes"))
        action_node = rule.get("action")
        if action_node is None:
            raise SpecError(f"{rule.path}.action", "is required")
        action = _action(action_node, rule.get("errnoRet"), EPERM)
        checks = []
        args = rule.get("args")
        for arg in args.items() if args is not None else []:
            arg.fields(("index", "value", "valueTwo", "op"))
            index, value = arg.get_int("index"), arg.get_int("value") or 0
            op = arg.get_str("op") or ""
            if index is None or not 0 <= index <= 5:
                raise SpecError(f"{arg.path}.index", "must be 0 to 5")
            if op not in _OPERATORS:
                raise SpecError(f"{arg.path}.op", f"unknown operator '{op}'")
            if op == "SCMP_CMP_MASKED_EQ":
                checks.append(f"[{index},{arg.get_int('valueTwo') or 0},{op},{value}]")
            else:
                checks.append(f"[{index},{value},{op}]")
        names = rule.get("names")
        for name_node in names.items() if names is not None else []:
            name = name_node.text()
            if not name.replace("_", "a").isalnum():
                raise SpecError(name_node.path, f"'{name}' is not a syscall name")
            lines.append(" ".join([name, action, *checks]))
    return "".join(line + "\n" for line in lines)
