"""Real system-call faults for tests: chosen system calls of this process fail with chosen errors.

:func:`deny` installs a seccomp filter (Linux, x86_64 and aarch64) in the calling process, so
that every later call of the named system calls fails with the given ``errno``, as a file
system would make them fail: ``flock`` with ``ENOLCK`` (NFS without its lock daemon),
``pwrite64``/``pwritev``/``fallocate`` with ``EDQUOT`` (a quota), and so on. Nothing is faked
inside Python: libhdf5, the C library and Python's ``os`` module all meet the same failure.

A filter cannot be removed, and the processes and threads the process starts afterwards inherit
it. It is therefore meant for a subprocess that a test starts::

    code = "import errno, seccomp; seccomp.deny({'flock': errno.ENOLCK}); ..."
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": TESTS})

The filter is installed with ``seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)``, so
it covers every thread already running too (numpy's, a worker pool's), after
``prctl(PR_SET_NO_NEW_PRIVS)``, which lets a process without ``CAP_SYS_ADMIN`` install one. It
checks the audit architecture first: a call made through another ABI (a 32-bit one) passes
untouched. Names are the kernel's (``pwrite64``, not ``pwrite``); :data:`SYSCALLS` lists those
known here. Use :func:`available` to skip a test where no filter can be installed (another
architecture or OS, a kernel or sandbox without seccomp).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import subprocess
import sys
from collections.abc import Mapping

# The audit architecture (``seccomp_data.arch``) of each machine, and its system call numbers
# (x86_64: arch/x86/entry/syscalls/syscall_64.tbl; aarch64: the generic table, asm-generic).
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "write": 1, "pwrite64": 18, "writev": 20, "fcntl": 72, "flock": 73, "fsync": 74,
        "fdatasync": 75, "truncate": 76, "ftruncate": 77, "rename": 82, "unlink": 87,
        "openat": 257, "fallocate": 285, "pwritev": 296, "renameat2": 316, "seccomp": 317,
        "pwritev2": 328,
    },
    "aarch64": {
        "fcntl": 25, "flock": 32, "truncate": 45, "ftruncate": 46, "fallocate": 47,
        "openat": 56, "write": 64, "writev": 66, "pwrite64": 68, "pwritev": 70,
        "fsync": 82, "fdatasync": 83, "renameat2": 276, "seccomp": 277, "pwritev2": 287,
    },
}

# prctl, seccomp and BPF constants (linux/prctl.h, linux/seccomp.h, linux/filter.h)
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: load a 32-bit word of seccomp_data
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K
_NR_OFFSET = 0  # seccomp_data.nr
_ARCH_OFFSET = 4  # seccomp_data.arch


class _Instruction(ctypes.Structure):  # struct sock_filter
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):  # struct sock_fprog
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def _machine() -> str:
    return platform.machine().lower()


def program(failures: Mapping[str, int], machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The BPF program (code, jt, jf, k per instruction) that makes each system call named in
    ``failures`` fail with its errno on ``machine`` (this one by default), and allows the rest."""
    machine = machine or _machine()
    numbers = SYSCALLS[machine]
    unknown = sorted(set(failures) - numbers.keys())
    if unknown:
        raise ValueError(f"no system call number known for {unknown} on {machine}")
    allow = (_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW)
    code = [(_BPF_LD_W_ABS, 0, 0, _ARCH_OFFSET),
            (_BPF_JEQ_K, 1, 0, AUDIT_ARCH[machine]),  # our ABI: go on; another: allow
            allow,
            (_BPF_LD_W_ABS, 0, 0, _NR_OFFSET)]
    for name, number in failures.items():
        if not 0 < number < 4096:
            raise ValueError(f"{number} is not an errno (for {name})")
        code += [(_BPF_JEQ_K, 0, 1, numbers[name]),  # this call: fail it; else the next test
                 (_BPF_RET_K, 0, 0, _SECCOMP_RET_ERRNO | number)]
    return [*code, allow]


def deny(failures: Mapping[str, int]) -> None:
    """Make each system call named in ``failures`` fail with its errno, in every thread of this
    process and every process it starts from now on (for good: a filter cannot be removed).

    ``deny({"flock": errno.ENOLCK})``; ``deny({"pwrite64": errno.EDQUOT, "pwritev":
    errno.EDQUOT, "fallocate": errno.EDQUOT})``. Raises OSError if the kernel refuses the
    filter, ValueError for a system call unknown here, RuntimeError on another machine.
    """
    machine = _machine()
    if sys.platform != "linux" or machine not in SYSCALLS:
        raise RuntimeError(f"seccomp filters are installed on Linux x86_64 and aarch64 only, "
                           f"not {sys.platform} {machine}")
    code = program(failures, machine)
    instructions = (_Instruction * len(code))(*(_Instruction(*step) for step in code))
    fprog = _Program(len(code), instructions)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _raise_errno("prctl(PR_SET_NO_NEW_PRIVS)")
    libc.syscall.restype = ctypes.c_long
    done = libc.syscall(ctypes.c_long(SYSCALLS[machine]["seccomp"]),
                        ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
                        ctypes.c_long(_SECCOMP_FILTER_FLAG_TSYNC), ctypes.byref(fprog))
    if done != 0:  # > 0: the id of a thread that could not be synchronised
        _raise_errno(f"seccomp(SECCOMP_SET_MODE_FILTER) returned {done}")


def _raise_errno(what: str) -> None:
    number = ctypes.get_errno() or errno.EPERM
    raise OSError(number, f"{what}: {os.strerror(number)}")


_PROBE = """
import errno, fcntl, sys, tempfile
sys.path.insert(0, sys.argv[1])
import seccomp
seccomp.deny({"flock": errno.ENOLCK})
with tempfile.TemporaryFile() as probe:
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        sys.exit(0 if exc.errno == errno.ENOLCK else 1)
sys.exit(1)
"""


@functools.cache
def available() -> bool:
    """Whether :func:`deny` works here: tried once, in a subprocess (a filter stays for good)."""
    if sys.platform != "linux" or _machine() not in SYSCALLS:
        return False
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE, here], check=False, capture_output=True,
                               timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0
