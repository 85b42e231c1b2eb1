"""The filesystem handler: upstream's ``theater:simple/filesystem`` and the WASI
``wasi:filesystem`` preopens, confined to one folder.

Settings: ``path``, the root folder (relative to the manifest's folder; it must exist).
Every path the actor names is resolved under the root, symbolic links included, and a
path that would leave it (``..``, an absolute path, a link pointing out) is refused:
``err("...")`` from theater:simple, ``not-permitted`` from wasi:filesystem.

What the actor reads crosses the boundary with its bytes (``read-file``'s result, an
input-stream's ``read``), and what it writes with its bytes (``write-file``'s
content, an output-stream's ``write``), so a replay, which builds no handler, never
touches the disk.

wasi:filesystem is served as far as language runtimes' file I/O goes (the WASI
preview-1 adapter's ``path_open``, ``fd_read``, ``fd_write``, ``fd_filestat_get``,
``path_create_directory``, ``path_unlink_file``, ``path_remove_directory``): the
preopen ``/`` (the root), ``descriptor.open-at``, ``read-via-stream``,
``write-via-stream``, ``append-via-stream``, ``read``, ``write``, ``get-type``,
``get-flags``, ``stat``, ``stat-at`` (type and size; no timestamps, so that two
recordings of one run agree), ``metadata-hash``, ``metadata-hash-at``, ``create-directory-at``, ``unlink-file-at``,
``remove-directory-at``, and ``filesystem-error-code``. The file streams are the
runtime handler's wasi:io/streams, so the runtime handler must be granted too.

Live functions here return canonical JSON (docs/chain-format.md's value forms), which
the runtime decodes to the function's own WIT type (:func:`canonical`): the handler
needs no knowledge of how wasmtime-py tags a result.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..canonical import encode_tagged_bytes
from ..errors import ManifestError
from . import Handler, LiveFn

DESCRIPTOR_TYPE = 0x7F0  # the host type id of wasi:filesystem's descriptor
ROOT_REP = 1

_ERRNO = {
    errno.ENOENT: "no-entry", errno.EEXIST: "exist", errno.EISDIR: "is-directory",
    errno.ENOTDIR: "not-directory", errno.EACCES: "access", errno.EPERM: "not-permitted",
    errno.ENOTEMPTY: "not-empty", errno.ENAMETOOLONG: "name-too-long", errno.ELOOP: "loop",
    errno.EINVAL: "invalid", errno.ENOSPC: "insufficient-space", errno.EROFS: "read-only",
}


#: The error a path that would leave the root raises (an OSError: not-permitted).
OUTSIDE = "outside the filesystem root"


def canonical(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a live function as returning canonical JSON (decoded by the runtime)."""
    fn.canonical = True  # type: ignore[attr-defined]
    return fn


def _ok(v: Any) -> dict[str, Any]:
    return {"ok": v}


def _err(v: Any) -> dict[str, Any]:
    return {"err": v}


def _code(e: OSError) -> str:
    return _ERRNO.get(e.errno or 0, "io")


class FilesystemHandler(Handler):
    type = "filesystem"
    interfaces = {
        "theater:simple/filesystem": (
            "read-file", "write-file", "list-files", "delete-file", "create-dir", "delete-dir", "path-exists",
        ),
        "wasi:filesystem/preopens": ("get-directories",),
        "wasi:filesystem/types": (
            "[method]descriptor.open-at", "[method]descriptor.read-via-stream",
            "[method]descriptor.write-via-stream", "[method]descriptor.append-via-stream",
            "[method]descriptor.read", "[method]descriptor.write", "[method]descriptor.get-type",
            "[method]descriptor.get-flags", "[method]descriptor.stat", "[method]descriptor.stat-at",
            "[method]descriptor.create-directory-at", "[method]descriptor.unlink-file-at",
            "[method]descriptor.remove-directory-at", "[method]descriptor.metadata-hash",
            "[method]descriptor.metadata-hash-at", "filesystem-error-code",
        ),
    }
    resource_types = {"wasi:filesystem/types": {"descriptor": DESCRIPTOR_TYPE}}
    settings_schema = {"path": str, "new_dir": bool, "allowed_commands": list}

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        where = f"{manifest.path}: handler[{config.index}] (filesystem)"
        path = config.settings.get("path")
        if path is None:
            raise ManifestError(f"{where}: `path` (the folder the actor may use) is required")
        root = Path(path)
        if not root.is_absolute():
            root = Path(manifest.path).parent / root
        if not root.is_dir():
            raise ManifestError(f"{where}: `path`: {root} is not a folder")
        self.root = Path(os.path.realpath(root))
        # descriptor rep -> (path relative to the root, is a directory)
        self._descs: dict[int, tuple[str, bool]] = {ROOT_REP: ("", True)}
        self._next = ROOT_REP + 1
        self.runtime: Any = None  # the runtime handler, for the file streams (connect)

    def header_settings(self) -> dict[str, Any]:
        # the root as the manifest names it: the folder differs between machines
        return self.config.to_json()

    def connect(self, handlers: list[Handler]) -> None:
        from .runtime import RuntimeHandler

        self.runtime = next((h for h in handlers if isinstance(h, RuntimeHandler)), None)

    # -- paths --

    def resolve(self, rel: str, base: str = "") -> Path:
        """The real path of ``rel`` under ``base`` (a folder relative to the root),
        symbolic links followed; raises ``PermissionError`` (EPERM: ``not-permitted``)
        unless it is inside the root (an absolute path, ``..`` past the root, a link
        pointing out)."""
        root = str(self.root)
        if "\0" in rel or os.path.isabs(rel):
            raise PermissionError(errno.EPERM, OUTSIDE)
        real = os.path.realpath(os.path.join(root, base, rel))
        if real != root and not real.startswith(root + os.sep):
            raise PermissionError(errno.EPERM, OUTSIDE)
        return Path(real)

    def _relative(self, p: Path) -> str:
        return os.path.relpath(p, self.root) if p != self.root else ""

    # -- theater:simple/filesystem (upstream: paths relative to the root) --

    def _simple(self, op: Callable[..., Any]) -> LiveFn:
        def run(store: Any, path: str, *rest: Any) -> Any:
            try:
                return _ok(op(self.resolve(path), *rest))
            except OSError as e:
                return _err(f"{path}: {e.strerror or e}")

        return canonical(run)

    @staticmethod
    def _list(p: Path) -> list[str]:
        return sorted(os.listdir(p))

    @staticmethod
    def _write(p: Path, content: str) -> None:
        p.write_text(content, encoding="utf-8")

    # -- wasi:filesystem --

    def _desc(self, d: Any) -> tuple[str, bool] | None:
        return self._descs.get(int(d.rep))

    def _wasi(self, op: Callable[..., Any]) -> LiveFn:
        def run(store: Any, d: Any, *rest: Any) -> Any:
            desc = self._desc(d)
            if desc is None:
                return _err("bad-descriptor")
            try:
                return _ok(op(desc, *rest))
            except OSError as e:
                return _err(_code(e))

        return canonical(run)

    def _open_at(self, desc: tuple[str, bool], path_flags: set[str], path: str, open_flags: set[str],
                 flags: set[str]) -> dict[str, int]:
        base, is_dir = desc
        if not is_dir:
            raise OSError(errno.ENOTDIR, "not a directory")
        p = self.resolve(path, base)
        if "create" in open_flags:
            if "exclusive" in open_flags and p.exists():
                raise OSError(errno.EEXIST, "exists")
            if not p.exists():
                p.touch()
        if not p.exists():
            raise OSError(errno.ENOENT, "no entry")
        if "directory" in open_flags and not p.is_dir():
            raise OSError(errno.ENOTDIR, "not a directory")
        if "truncate" in open_flags and p.is_file():
            p.write_bytes(b"")
        rep = self._next
        self._next += 1
        self._descs[rep] = (self._relative(p), p.is_dir())
        return {"rep": rep}

    def _file(self, desc: tuple[str, bool]) -> Path:
        return self.resolve(desc[0]) if desc[0] else self.root

    def _read(self, desc: tuple[str, bool], length: int, offset: int) -> list[Any]:
        with open(self._file(desc), "rb") as f:
            f.seek(offset)
            data = f.read(min(length, 1 << 20))
        return [encode_tagged_bytes(data), len(data) < min(length, 1 << 20)]

    def _write_at(self, desc: tuple[str, bool], buffer: bytes, offset: int) -> int:
        with open(self._file(desc), "r+b") as f:
            f.seek(offset)
            return f.write(buffer)

    def _read_stream(self, desc: tuple[str, bool], offset: int) -> dict[str, int]:
        if self.runtime is None:
            raise OSError(errno.ENOTSUP, "file streams need the runtime handler")
        path = self._file(desc)
        return {"rep": self.runtime.open_input(lambda n, pos: _read_file(path, offset + pos, n))}

    def _write_stream(self, desc: tuple[str, bool], offset: int | None) -> dict[str, int]:
        if self.runtime is None:
            raise OSError(errno.ENOTSUP, "file streams need the runtime handler")
        path = self._file(desc)
        return {"rep": self.runtime.open_output(lambda data, pos: _write_file(path, offset, pos, data))}

    @staticmethod
    def _type(p: Path) -> str:
        return "directory" if p.is_dir() else "regular-file" if p.is_file() else "unknown"

    def _stat(self, p: Path) -> dict[str, Any]:
        """Type and size; no timestamps (``none``) and one link: the times a file was
        touched would make two recordings of the same run differ."""
        st = p.stat()
        return {"type": self._type(p), "link-count": 1, "size": st.st_size,
                "data-access-timestamp": None, "data-modification-timestamp": None,
                "status-change-timestamp": None}

    def _metadata_hash(self, p: Path) -> dict[str, int]:
        """An identity for the file from its path under the root (stable across
        machines, unlike an inode number)."""
        import hashlib

        p.stat()  # no-entry if it does not exist
        digest = hashlib.sha256(self._relative(p).encode()).digest()
        return {"lower": int.from_bytes(digest[:8], "little"), "upper": int.from_bytes(digest[8:16], "little")}

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        def at(op: Callable[[Path], Any]) -> Callable[..., Any]:
            return lambda desc, path: op(self.resolve(path, desc[0]))

        unlink, mkdir, rmdir = _none(Path.unlink), _none(Path.mkdir), _none(Path.rmdir)
        return {
            "theater:simple/filesystem": {
                "read-file": self._simple(lambda p: encode_tagged_bytes(p.read_bytes())),
                "write-file": self._simple(self._write),
                "list-files": self._simple(self._list),
                "delete-file": self._simple(unlink),
                "create-dir": self._simple(mkdir),
                "delete-dir": self._simple(rmdir),
                "path-exists": self._simple(lambda p: p.exists()),
            },
            "wasi:filesystem/preopens": {
                "get-directories": canonical(lambda store: [[{"rep": ROOT_REP}, "/"]]),
            },
            "wasi:filesystem/types": {
                "[method]descriptor.open-at": self._wasi(self._open_at),
                "[method]descriptor.read-via-stream": self._wasi(self._read_stream),
                "[method]descriptor.write-via-stream": self._wasi(self._write_stream),
                "[method]descriptor.append-via-stream": self._wasi(lambda d: self._write_stream(d, None)),
                "[method]descriptor.read": self._wasi(self._read),
                "[method]descriptor.write": self._wasi(self._write_at),
                "[method]descriptor.get-type": self._wasi(lambda d: self._type(self._file(d))),
                "[method]descriptor.get-flags": self._wasi(lambda d: ["read", "write"]),
                "[method]descriptor.stat": self._wasi(lambda d: self._stat(self._file(d))),
                "[method]descriptor.stat-at": self._wasi(lambda d, flags, path: self._stat(
                    self.resolve(path, d[0]))),
                "[method]descriptor.metadata-hash": self._wasi(lambda d: self._metadata_hash(self._file(d))),
                "[method]descriptor.metadata-hash-at": self._wasi(lambda d, flags, path: self._metadata_hash(
                    self.resolve(path, d[0]))),
                "[method]descriptor.create-directory-at": self._wasi(at(mkdir)),
                "[method]descriptor.unlink-file-at": self._wasi(at(unlink)),
                "[method]descriptor.remove-directory-at": self._wasi(at(rmdir)),
                "filesystem-error-code": canonical(lambda store, e: None),
            },
        }


def _none(op: Callable[[Path], None]) -> Callable[[Path], None]:
    """``op`` as a function whose result (an ``ok`` without payload) is None."""
    def run(p: Path) -> None:
        op(p)

    return run


def _read_file(path: Path, offset: int, n: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def _write_file(path: Path, offset: int | None, pos: int, data: bytes) -> None:
    with open(path, "ab" if offset is None else "r+b") as f:
        if offset is not None:
            f.seek(offset + pos)
        f.write(data)
