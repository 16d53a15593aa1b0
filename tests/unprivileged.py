"""Running a command without the permission checks root skips, so that tests about unreadable folders and
unwritable output folders test what an ordinary user meets, also when the suite runs as root (CI)."""

from __future__ import annotations

import ctypes
import os

import pytest

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_PR_CAPBSET_DROP = 24
_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_file_permission_override() -> None:
    """In a child before exec: root loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, for good (also from the
    bounding set, or exec would give them back), so mode bits apply to it as to anyone."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    header, data = _Header(_CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    keep = ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    for field in ("effective", "permitted", "inheritable"):
        setattr(data[0], field, getattr(data[0], field) & keep)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def as_ordinary_user() -> dict:
    """Keyword arguments for subprocess.run / Popen: the child runs with file permissions enforced (as root,
    without the capabilities that bypass them; as anyone else, unchanged)."""
    if os.geteuid() != 0:
        return {}
    try:  # root without CAP_SETPCAP (some containers) cannot give them up
        probe = ctypes.CDLL(None, use_errno=True).prctl(23, _CAP_DAC_OVERRIDE, 0, 0, 0)  # PR_CAPBSET_READ
    except OSError:
        probe = -1
    if probe != 1:
        pytest.skip("running as root without the means to give up CAP_DAC_OVERRIDE")
    return {"preexec_fn": _drop_file_permission_override}
