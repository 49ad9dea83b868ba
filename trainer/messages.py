"""One-line messages for the errors a trainer command reports to its user (docs/export.md: one clear
line and exit code 2 on bad input), instead of Python's wording of them."""

from __future__ import annotations

import errno
from pathlib import Path

_OS_ERRORS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.EEXIST: "already exists",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "the file system is read-only",
}


def os_error(exc: OSError) -> str:
    """``path: what is wrong with it`` for a failed file operation (no ``[Errno N]``)."""
    text = _OS_ERRORS.get(exc.errno or -1) or (exc.strerror or str(exc)).lower()
    where = f"{exc.filename}: " if exc.filename is not None else ""
    also = f" ({exc.filename2})" if exc.filename2 is not None else ""
    return f"{where}{text}{also}"


def one_line(exc: BaseException) -> str:
    """The message of a user error as one line: file errors worded by ``os_error``, anything else its
    first non-empty line (a library's multi-line message keeps only its summary)."""
    if isinstance(exc, OSError):
        return os_error(exc)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def not_a_torch_file(path: Path, exc: BaseException, what: str = "PyTorch checkpoint (state dict)") -> str:
    """Why ``torch.load`` could not read ``path``, in one line. PyTorch's own message for a foreign file
    is several lines long and advises ``weights_only=False``, which would run the file's pickled code."""
    detail = str(exc)
    if "Unsupported global" in detail:
        return (f"{path} is not a plain {what}: it holds pickled Python objects besides tensors, which are "
                f"not loaded (they could run code)")
    return f"{path} is not a {what}"
