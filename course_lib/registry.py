"""The asset registry: one list of every file the course reads, with its digest.

``course_lib/assets/registry.toml`` names each dataset file, sample picture,
checkpoint and pretrained weight file with its SHA-256, size in bytes, licence
and source. This module reads it and checks files against it, so that a
corrupt download or a silently changed checkpoint fails loudly, with the
file, the expected and the actual digest in the message.

>>> entry = dataset_files("fashion-mnist")["t10k-labels-idx1-ubyte"]
>>> entry["size"]
10008
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REGISTRY_PATH = Path(__file__).parent / "assets" / "registry.toml"
CHECKPOINT_DIR = Path(__file__).parent / "assets" / "checkpoints"
SECTIONS = ("datasets", "samples", "checkpoints", "weights")

# The keys each kind of entry must carry (tests/test_registry.py enforces them).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "datasets": ("title", "licence", "source", "base_urls", "files"),
    "dataset_files": ("split", "kind", "shape", "sha256", "size"),
    "samples": ("function", "file", "shape", "sha256", "size", "licence", "source"),
    "checkpoints": ("path", "sha256", "size", "licence", "source", "command", "metrics"),
    "weights": ("file", "urls", "licence", "source", "optional", "available_offline"),
}

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20  # 1 MiB: hashing cost is dominated by I/O, not by call overhead


class ChecksumError(ValueError):
    """A file's SHA-256 or size differs from its registry entry."""


@dataclass(frozen=True)
class Digest:
    """SHA-256 (hex) and size in bytes of a file, or of its decompressed payload."""

    sha256: str
    size: int


@functools.lru_cache(maxsize=1)
def load_registry() -> dict[str, Any]:
    """Parse ``registry.toml`` once; callers must treat the result as read-only."""
    with REGISTRY_PATH.open("rb") as f:
        return tomllib.load(f)


def _lookup(section: str, name: str) -> dict[str, Any]:
    entries = load_registry().get(section, {})
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise KeyError(f"no {section} entry named {name!r} in {REGISTRY_PATH.name}; known: {known}")
    return entries[name]


def dataset(name: str) -> dict[str, Any]:
    """The registry entry of a dataset (licence, source, URLs, files)."""
    return _lookup("datasets", name)


def dataset_files(name: str) -> dict[str, dict[str, Any]]:
    """``{file name: entry}`` for a dataset; digests are of the decompressed payload."""
    return dataset(name)["files"]


def sample(name: str) -> dict[str, Any]:
    """The registry entry of a bundled sample picture."""
    return _lookup("samples", name)


def sample_names() -> list[str]:
    """Names of the registered sample pictures, sorted."""
    return sorted(load_registry().get("samples", {}))


def checkpoint(name: str) -> dict[str, Any]:
    """The registry entry of a shipped checkpoint."""
    return _lookup("checkpoints", name)


def weights(name: str) -> dict[str, Any]:
    """The registry entry of third-party pretrained weights (optional, not shipped)."""
    return _lookup("weights", name)


def file_digest(path: str | Path, *, decompress: bool = False) -> Digest:
    """SHA-256 and size of ``path``, read in chunks so large files cost no memory.

    With ``decompress=True`` a gzip file is hashed by its decompressed payload;
    that is how dataset files are registered, because two valid ``.gz`` files
    of the same payload (Debian re-compressed Fashion-MNIST) differ in bytes.
    """
    h = hashlib.sha256()
    size = 0
    opener = gzip.open if decompress else open
    with opener(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return Digest(h.hexdigest(), size)


def check_digest(label: str, actual: Digest, entry: dict[str, Any]) -> None:
    """Raise :class:`ChecksumError` unless ``actual`` matches ``entry``.

    ``entry`` holds ``sha256`` (or only ``sha256_prefix``, for upstream files
    whose full digest is unpublished) and optionally ``size``. ``label`` names
    the file in the message.
    """
    expected = entry.get("sha256")
    prefix = entry.get("sha256_prefix")
    if expected is None and prefix is None:
        raise KeyError(f"registry entry for {label} has neither sha256 nor sha256_prefix")
    ok = actual.sha256 == expected if expected is not None else actual.sha256.startswith(prefix)
    size = entry.get("size")
    if ok and (size is None or actual.size == size):
        return
    raise ChecksumError(
        f"checksum mismatch for {label}:\n"
        f"  expected sha256 {expected or prefix + '...'}"
        + (f" ({size} bytes)" if size is not None else "")
        + f"\n  actual   sha256 {actual.sha256} ({actual.size} bytes)\n"
        "The file is corrupt, truncated or not the one the course expects: "
        "delete it and fetch it again."
    )


def verify_file(path: str | Path, entry: dict[str, Any], *, decompress: bool = False) -> Digest:
    """Check ``path`` against a registry entry; return its digest or raise ChecksumError.

    Raises FileNotFoundError when the file is missing.
    """
    path = Path(path)
    label = f"the decompressed payload of {path}" if decompress else str(path)
    try:
        actual = file_digest(path, decompress=decompress)
    except (OSError, EOFError, zlib.error) as err:  # how gzip reports a damaged file
        if isinstance(err, FileNotFoundError):
            raise
        raise ChecksumError(
            f"cannot read {label}: {err}; the file is corrupt or truncated: "
            "delete it and fetch it again."
        ) from err
    check_digest(label, actual, entry)
    return actual


def verify_checkpoint(name: str, *, directory: str | Path | None = None) -> Path:
    """Verify a shipped checkpoint against its entry and return its path.

    ``directory`` defaults to ``course_lib/assets/checkpoints``.
    """
    entry = checkpoint(name)
    path = Path(directory or CHECKPOINT_DIR) / entry["path"]
    verify_file(path, entry)
    return path


def validate_registry(registry: dict[str, Any] | None = None) -> list[str]:
    """Problems with the registry's structure, as messages; an empty list means none.

    Checks that every entry carries :data:`REQUIRED_KEYS`, that digests are 64
    lower-case hex digits and sizes positive integers, and that weights which
    carry no full digest are marked optional and not available offline.
    """
    reg = load_registry() if registry is None else registry
    problems: list[str] = []

    def need(where: str, entry: dict[str, Any], kind: str) -> None:
        problems.extend(
            f"{where}: missing {key!r}" for key in REQUIRED_KEYS[kind] if key not in entry
        )
        if "sha256" in entry and not _HEX64.fullmatch(str(entry["sha256"])):
            problems.append(f"{where}: sha256 {entry['sha256']!r} is not 64 lower-case hex digits")
        if "size" in entry and not (isinstance(entry["size"], int) and entry["size"] > 0):
            problems.append(f"{where}: size {entry['size']!r} is not a positive integer")

    for section in SECTIONS:
        if section not in reg:
            problems.append(f"missing section [{section}]")
    for name, entry in reg.get("datasets", {}).items():
        need(f"datasets.{name}", entry, "datasets")
        for fname, fentry in entry.get("files", {}).items():
            need(f"datasets.{name}.files.{fname}", fentry, "dataset_files")
    for name, entry in reg.get("samples", {}).items():
        need(f"samples.{name}", entry, "samples")
    for name, entry in reg.get("checkpoints", {}).items():
        need(f"checkpoints.{name}", entry, "checkpoints")
        if not entry.get("metrics"):
            problems.append(f"checkpoints.{name}: metrics must name what the checkpoint reached")
    for name, entry in reg.get("weights", {}).items():
        need(f"weights.{name}", entry, "weights")
        if "sha256" not in entry and "sha256_prefix" not in entry:
            problems.append(f"weights.{name}: needs sha256 or sha256_prefix")
        if "sha256" not in entry and (entry.get("available_offline") or not entry.get("optional")):
            problems.append(
                f"weights.{name}: no full sha256, so it must be optional and not available_offline"
            )
    return problems
