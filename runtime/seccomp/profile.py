"""Parse an LXC seccomp profile (lxc.container.conf(5), "SECCOMP CONFIGURATION").

Version 1: the line `1`, a line naming `allowlist` (or the old `whitelist`), then
one syscall number per line: those are allowed, every other syscall kills.

Version 2: the line `2`; a line `allowlist`/`denylist` (`whitelist`/`blacklist`),
optionally followed by the default action (what an unlisted syscall gets); then
rules, one a line: `SYSCALL [ACTION] [ARG,VALUE,OP(,MASK)]...`. ACTION is `allow`,
`kill`, `trap`, `errno N` or `notify`; without one a rule of a denylist kills and
one of an allowlist allows (LXC's defaults). A line `reject_force_umount` makes
`umount2(..., MNT_FORCE)` fail with EACCES. Section lines (`[all]`, `[x86_64]`,
`[x86]`/`[i386]`, `[x32]`, `[compat]`, or another architecture's name) say which
architectures the following rules are for. `#` starts a comment line (and ends the
rule part of a line).

Parsing is kept apart from compiling (runtime.seccomp.compile) so a bad profile is
reported with its file and line before libseccomp is touched; this module is
standard library only. Every error is a ConfigError naming the profile file, the
line and the key `lxc.seccomp.profile`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from runtime.client.errors import ConfigError

KEY = "lxc.seccomp.profile"

#: Architecture groups a rule may be for (compile.py maps them to libseccomp's).
ALL = "all"
NATIVE = "native"
X86 = "x86"
X32 = "x32"
COMPAT = "compat"  # x86 and x32 on an x86_64 host

#: Section names LXC knows, and the group each stands for on an x86_64 host (on
#: another host, `[all]` and the host's own architecture apply, the rest is skipped).
SECTIONS = {
    "all": ALL,
    "x86_64": NATIVE,
    "amd64": NATIVE,
    "x86": X86,
    "i386": X86,
    "x32": X32,
    "compat": COMPAT,
}
#: Sections of other hosts' architectures: their rules are skipped here, as LXC does.
FOREIGN_SECTIONS = frozenset(
    {
        "arm", "arm64", "aarch64", "ppc", "ppc64", "ppc64le", "mips", "mips64",
        "mips64n32", "mipsel", "mipsel64", "mipsel64n32", "s390", "s390x", "riscv64",
    }
)  # fmt: skip

#: Operators, by LXC's long and short spellings, as libseccomp numbers them.
OPERATORS = {
    "SCMP_CMP_NE": 1, "!=": 1,
    "SCMP_CMP_LT": 2, "<": 2,
    "SCMP_CMP_LE": 3, "<=": 3,
    "SCMP_CMP_EQ": 4, "==": 4,
    "SCMP_CMP_GE": 5, ">=": 5,
    "SCMP_CMP_GT": 6, ">": 6,
    "SCMP_CMP_MASKED_EQ": 7, "&=": 7,
}  # fmt: skip
MASKED_EQ = 7

MNT_FORCE = 1
EACCES = 13

#: `uname -m` -> the section name of that architecture, where they differ.
_MACHINE_SECTIONS = {"aarch64": "arm64", "i686": "x86", "i386": "x86", "armv7l": "arm"}

_ARG = re.compile(r"\[([^\]]*)\]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Action:
    """A seccomp action: `allow`, `kill`, `trap`, or `errno` with its number."""

    kind: str
    errno: int = 0

    def __str__(self) -> str:
        return f"errno {self.errno}" if self.kind == "errno" else self.kind


ALLOW = Action("allow")
KILL = Action("kill")


@dataclass(frozen=True)
class ArgCheck:
    """`[INDEX,VALUE,OP(,MASK)]`: the syscall's argument INDEX compared to VALUE."""

    index: int
    op: int
    value: int
    mask: int = 0


@dataclass(frozen=True)
class Rule:
    """One rule line: a syscall (by name, or by number in version 1), its action,
    its argument checks and the architecture group it is for."""

    syscall: str | int
    action: Action
    args: tuple[ArgCheck, ...] = ()
    arch: str = ALL
    line: int = 0


@dataclass
class Profile:
    """A parsed profile: where it came from, its default action and its rules."""

    path: str
    version: int
    default: Action
    rules: list[Rule] = field(default_factory=list)

    def error(self, line: int, reason: str) -> ConfigError:
        return ConfigError(self.path, line, KEY, reason)


def load(path: str) -> Profile:
    """Read and parse the profile file; ConfigError when it cannot be read or is bad."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(path, 0, KEY, f"cannot read the seccomp profile: {reason}") from None
    return parse(text, path)


def parse(text: str, path: str = "<profile>", machine: str | None = None) -> Profile:
    """The profile in `text` (named `path` in errors), for a host whose `uname -m`
    is `machine` (this host's when None)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() not in ("1", "2"):
        raise ConfigError(path, 1, KEY, "the first line must be the profile version, 1 or 2")
    version = int(lines[0].strip())
    if len(lines) < 2:
        raise ConfigError(
            path, 2, KEY, "the second line must name the policy (allowlist or denylist)"
        )
    words = lines[1].split("#", 1)[0].split()
    if "debug" in words:
        raise ConfigError(
            path, 2, KEY, "the debug policy option is not supported (LXC refuses it too)"
        )
    if version == 1:
        if not words or words[0] not in ("allowlist", "whitelist"):
            raise ConfigError(path, 2, KEY, "a version 1 profile must be an allowlist")
        return _parse_v1(path, lines)
    return _parse_v2(path, lines, words, machine or os.uname().machine)


def _parse_v1(path: str, lines: list[str]) -> Profile:
    profile = Profile(path, 1, KILL)
    for number, line in enumerate(lines[2:], start=3):
        text = line.strip()
        if not text:
            continue
        try:
            syscall = int(text.split()[0])
        except ValueError:
            raise profile.error(number, f"'{text}' is not a syscall number") from None
        if syscall < 0:
            raise profile.error(number, f"'{text}' is not a syscall number")
        profile.rules.append(Rule(syscall, ALLOW, line=number))
    return profile


def _parse_v2(path: str, lines: list[str], words: list[str], machine: str) -> Profile:
    if not words or words[0] not in ("allowlist", "whitelist", "denylist", "blacklist"):
        raise ConfigError(
            path, 2, KEY, "the second line must name the policy: allowlist or denylist"
        )
    deny = words[0] in ("denylist", "blacklist")
    default = ALLOW if deny else KILL
    if len(words) > 1:
        default = _action(words[1:], path, 2, "default action")
        if default.kind == "notify":
            raise ConfigError(path, 2, KEY, "notify cannot be the default action")
    rule_default = KILL if deny else ALLOW
    profile = Profile(path, 2, default)
    arch: str | None = ALL  # None: a foreign section, its rules skipped
    for number, line in enumerate(lines[2:], start=3):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("["):
            arch = _section(profile, number, text, machine)
            continue
        if arch is None:
            continue
        rule = _rule(profile, number, text, rule_default, arch)
        if rule is not None:
            profile.rules.append(rule)
    return profile


def _section(profile: Profile, number: int, text: str, machine: str) -> str | None:
    name = text.split("#", 1)[0].strip()
    if not name.endswith("]"):
        raise profile.error(number, f"bad section line '{text}'")
    arch = name[1:-1].strip().lower()
    known = arch in SECTIONS or arch in FOREIGN_SECTIONS
    if arch == "all":
        return ALL
    if machine != "x86_64" and known:  # only [all] and the host's own section
        return NATIVE if arch == _MACHINE_SECTIONS.get(machine, machine) else None
    if arch in SECTIONS:
        return SECTIONS[arch]
    if known:
        return None
    raise profile.error(number, f"unsupported architecture '{arch}'")


def _rule(profile: Profile, number: int, text: str, default: Action, arch: str) -> Rule | None:
    body = text.split("#", 1)[0]
    head, bracket, tail = body.partition("[")
    words = head.split()
    name = words[0]
    if name == "reject_force_umount":
        return Rule(
            "umount2",
            Action("errno", EACCES),
            (ArgCheck(1, MASKED_EQ, MNT_FORCE, MNT_FORCE),),
            arch,
            number,
        )
    if not _NAME.match(name):
        raise profile.error(number, f"'{name}' is not a syscall name")
    action = _action(words[1:], profile.path, number, "action") if len(words) > 1 else default
    if action.kind == "notify":
        raise profile.error(
            number,
            f"{name}: the notify action needs a seccomp notification proxy, which is not supported",
        )
    args = _arguments(profile, number, bracket + tail) if bracket else ()
    return Rule(name, action, args, arch, number)


def _action(words: list[str], path: str, number: int, what: str) -> Action:
    kind = words[0]
    if kind in ("allow", "kill", "trap", "notify") and len(words) == 1:
        return Action(kind)
    if kind == "errno" and len(words) == 2:
        try:
            value = int(words[1], 0)
        except ValueError:
            value = -1
        if not 0 <= value <= 4095:
            raise ConfigError(path, number, KEY, f"'{words[1]}' is not an errno number (0 to 4095)")
        return Action("errno", value)
    raise ConfigError(
        path, number, KEY, f"bad {what} '{' '.join(words)}' (allow, kill, trap, errno N or notify)"
    )


def _arguments(profile: Profile, number: int, text: str) -> tuple[ArgCheck, ...]:
    found = _ARG.findall(text)
    if not found or _ARG.sub("", text).strip():
        raise profile.error(
            number,
            f"bad argument filter '{text.strip()}' ([INDEX,VALUE,OP] or [INDEX,VALUE,OP,MASK])",
        )
    if len(found) > 6:
        raise profile.error(number, "at most 6 argument filters")
    checks = []
    for item in found:
        parts = [part.strip() for part in item.split(",")]
        if len(parts) not in (3, 4):
            raise profile.error(
                number,
                f"bad argument filter '[{item}]' ([INDEX,VALUE,OP] or [INDEX,VALUE,OP,MASK])",
            )
        try:
            index = int(parts[0], 0)
            value = int(parts[1], 0)
            mask = int(parts[3], 0) if len(parts) == 4 else 0
        except ValueError:
            raise profile.error(number, f"bad number in argument filter '[{item}]'") from None
        if not 0 <= index <= 5:
            raise profile.error(number, f"argument index {index} is not 0 to 5")
        if not (0 <= value < 1 << 64 and 0 <= mask < 1 << 64):
            raise profile.error(
                number, f"argument filter '[{item}]': values are unsigned 64-bit numbers"
            )
        op = OPERATORS.get(parts[2])
        if op is None:
            raise profile.error(
                number, f"unknown operator '{parts[2]}' in argument filter '[{item}]'"
            )
        checks.append(ArgCheck(index, op, value, mask))
    return tuple(checks)
