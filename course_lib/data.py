"""Datasets and sample pictures: Fashion-MNIST, and the pictures bundled with scikit-image.

:func:`load_fashion_mnist` looks for the four IDX files, in this order, in

1. the ``root`` argument,
2. ``$COURSE_DATA_DIR``,
3. the user cache, ``$XDG_CACHE_HOME/course_lib/fashion-mnist`` (``~/.cache/...``),
4. ``/usr/share/datasets/fashion-mnist``, where the Debian package
   ``dataset-fashion-mnist`` installs them,

and otherwise downloads them into the user cache. Each folder may hold the
``.gz`` files or the decompressed ones. Every file read is checked against the
SHA-256 of its decompressed payload in the asset registry.

Command line (nothing runs on import)::

    python -m course_lib.data status                 # where each asset was found
    python -m course_lib.data fetch fashion-mnist    # make sure it is present
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from course_lib import registry

FASHION_MNIST = "fashion-mnist"
ENV_DATA_DIR = "COURSE_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")
IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10
_IDX_UBYTE = 0x08  # IDX type code of unsigned bytes; the third byte of the magic number
_NDIM = {"images": 3, "labels": 1}
_CHUNK = 1 << 20


class DatasetNotFoundError(RuntimeError):
    """A dataset is in none of the places searched and could not be downloaded."""


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file of the expected kind."""


def cache_dir() -> Path:
    """The user cache of course_lib: ``$XDG_CACHE_HOME/course_lib`` or ``~/.cache/course_lib``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "course_lib"


def _split_files(split: str) -> dict[str, tuple[str, dict]]:
    """``{"images"|"labels": (file name, registry entry)}`` of one split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    files = registry.dataset_files(FASHION_MNIST)
    return {e["kind"]: (name, e) for name, e in files.items() if e["split"] == split}


def _places(root: str | os.PathLike | None) -> list[tuple[str, Path | None]]:
    """The folders searched, in order, each with a description for messages."""
    env = os.environ.get(ENV_DATA_DIR)
    return [
        ("root argument", Path(root) if root is not None else None),
        (f"${ENV_DATA_DIR}", Path(env) if env else None),
        ("user cache", cache_dir() / FASHION_MNIST),
        ("Debian package folder (dataset-fashion-mnist)", DEBIAN_DIR),
    ]


def _file_in(folder: Path, name: str) -> Path | None:
    # The decompressed file first: it is read without inflating.
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def locate_fashion_mnist(
    split: str, root: str | os.PathLike | None = None
) -> tuple[dict[str, Path] | None, list[str]]:
    """Find the files of ``split`` without reading them.

    Returns ``({"images": path, "labels": path}, searched)`` from the first folder
    that holds both, or ``(None, searched)``; ``searched`` describes each place.
    """
    files = _split_files(split)
    searched = []
    for what, folder in _places(root):
        if folder is None:
            searched.append(f"{what}: not set")
            continue
        if not folder.is_dir():
            searched.append(f"{what} {folder}: does not exist")
            continue
        found = {kind: _file_in(folder, name) for kind, (name, _) in files.items()}
        missing = [f"{files[k][0]}[.gz]" for k, p in found.items() if p is None]
        if not missing:
            searched.append(f"{what} {folder}: found")
            return found, searched  # type: ignore[return-value]
        searched.append(f"{what} {folder}: missing {', '.join(missing)}")
    return None, searched


def read_idx(path: str | Path, entry: dict, kind: str) -> np.ndarray:
    """Read an IDX file (gzip or not), verify it against ``entry``, return its array.

    ``kind`` is ``"images"`` (uint8 (N, 28, 28)) or ``"labels"`` (uint8 (N,)).
    The payload lands in one buffer of the registered size that the array then
    views, so a 47 MB file costs 47 MB, not twice that.
    """
    path = Path(path)
    with path.open("rb") as f:
        is_gz = f.read(2) == b"\x1f\x8b"  # by content, not by name
    buf = bytearray(entry["size"])
    view = memoryview(buf)
    n = 0
    try:
        with (gzip.open if is_gz else open)(path, "rb") as f:
            while n < len(buf) and (k := f.readinto(view[n:])):
                n += k
            longer = bool(f.read(1))
    except (OSError, EOFError, zlib.error) as err:
        raise registry.ChecksumError(
            f"cannot read {path}: {err}; the file is corrupt: delete it and fetch it again"
        ) from err
    finally:
        view.release()
    if n != len(buf) or longer:  # wrong size: stream it again for the full digest in the error
        registry.verify_file(path, entry, decompress=is_gz)
    label = f"the decompressed payload of {path}" if is_gz else str(path)
    registry.check_digest(label, registry.Digest(hashlib.sha256(buf).hexdigest(), n), entry)
    return _parse_idx(buf, path, kind)


def _parse_idx(buf: bytearray, path: Path, kind: str) -> np.ndarray:
    """View the data of an IDX buffer: magic 00 00 08 ndim, ndim big-endian uint32 dims."""
    ndim = _NDIM[kind]
    header = 4 + 4 * ndim
    if len(buf) < header or buf[0:3] != bytes([0, 0, _IDX_UBYTE]) or buf[3] != ndim:
        raise IdxFormatError(
            f"{path} is not an IDX file of {kind}: magic number {bytes(buf[:4]).hex()}, "
            f"expected 000008{ndim:02x} (unsigned bytes, {ndim} dimensions)"
        )
    dims = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    if kind == "images" and dims[1:] != IMAGE_SIZE:
        raise IdxFormatError(f"{path}: images are {dims[1:]}, expected {IMAGE_SIZE}")
    if len(buf) != header + int(np.prod(dims)):
        raise IdxFormatError(
            f"{path}: header declares dims {dims} ({int(np.prod(dims))} bytes of data), "
            f"the file has {len(buf) - header}"
        )
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(dims)


def download_url(url: str, dest: BinaryIO) -> None:
    """Stream ``url`` into the open binary file ``dest``.

    The only function here that touches the network; tests replace it.
    Raises OSError on a network failure or a body shorter than announced.
    """
    with urllib.request.urlopen(url, timeout=60) as response:
        announced = response.headers.get("Content-Length")
        n = 0
        while chunk := response.read(_CHUNK):
            dest.write(chunk)
            n += len(chunk)
    if announced is not None and n != int(announced):
        raise OSError(f"short download from {url}: {n} of {announced} bytes")


class _DownloadFailed(Exception):
    """Every URL failed for network reasons (no digest mismatch)."""


def _download(name: str, entry: dict, dest_dir: Path) -> Path:
    """Download ``<name>.gz`` into ``dest_dir``, verified, atomically; return its path.

    Each URL is streamed into a temporary file beside the target and renamed
    over it only once its payload digest matches, so an interrupted or corrupt
    download never leaves a file that a later search would trust.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{name}.gz"
    failures: list[str] = []
    mismatch = False
    for base in registry.dataset(FASHION_MNIST)["base_urls"]:
        url = f"{base}{name}.gz"
        fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                download_url(url, f)
            try:
                actual = registry.file_digest(tmp, decompress=True)
            except (OSError, EOFError, zlib.error) as err:  # truncated or not gzip
                raise registry.ChecksumError(f"{name}.gz from {url} is corrupt: {err}") from err
            registry.check_digest(f"the payload of {name}.gz from {url}", actual, entry)
            os.replace(tmp, target)
            return target
        except registry.ChecksumError as err:
            mismatch = True
            failures.append(str(err))
        except Exception as err:  # any network failure: try the next URL
            failures.append(f"{url}: {type(err).__name__}: {err}")
        finally:
            tmp.unlink(missing_ok=True)  # gone already after a successful os.replace
    if mismatch:
        raise registry.ChecksumError("\n".join(failures))
    raise _DownloadFailed("\n".join(failures))


def how_to_get_fashion_mnist() -> str:
    """The instructions printed whenever Fashion-MNIST cannot be found."""
    names = ", ".join(f"{n}.gz" for n in registry.dataset_files(FASHION_MNIST))
    base = registry.dataset(FASHION_MNIST)["base_urls"][0]
    return (
        "To get Fashion-MNIST, do one of:\n"
        "  - on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist\n"
        f"  - download the four files {names}\n"
        f"    from {base} into a folder, then: export {ENV_DATA_DIR}=/path/to/that/folder\n"
        "  - when online: make data   (or: python -m course_lib.data fetch fashion-mnist)"
    )


def _resolve(split: str, root: str | os.PathLike | None, download: bool) -> dict[str, Path]:
    found, searched = locate_fashion_mnist(split, root)
    if found is not None:
        return found
    tried = "download: not attempted (download=False)"
    if download:
        try:
            dest = cache_dir() / FASHION_MNIST
            return {k: _download(n, e, dest) for k, (n, e) in _split_files(split).items()}
        except _DownloadFailed as err:
            tried = "download into the user cache failed:\n    " + str(err).replace("\n", "\n    ")
    places = "\n".join(f"  {i}. {s}" for i, s in enumerate(searched, 1))
    raise DatasetNotFoundError(
        f"Fashion-MNIST ({split} split) was not found. Searched, in order:\n"
        f"{places}\n  {tried}\n{how_to_get_fashion_mnist()}"
    )


def load_fashion_mnist(
    split: str, root: str | os.PathLike | None = None, *, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load a split of Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; MIT, Zalando SE).

    Args:
        split: ``"train"`` (60,000 pictures) or ``"test"`` (10,000).
        root: a folder searched before all others.
        download: allow downloading into the user cache when found nowhere.

    Returns:
        ``images`` uint8 (N, 28, 28), 0 = background, and ``labels`` int64 (N,)
        in 0..9 (class names in ``registry.dataset("fashion-mnist")["classes"]``).

    Raises:
        ValueError: unknown split. DatasetNotFoundError: nowhere to be found,
        with instructions. registry.ChecksumError / IdxFormatError: a bad file.
    """
    paths = _resolve(split, root, download)
    files = _split_files(split)
    images = read_idx(paths["images"], files["images"][1], "images")
    labels = read_idx(paths["labels"], files["labels"][1], "labels")
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{paths['images']} has {len(images)} images but {paths['labels']} "
            f"has {len(labels)} labels"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise IdxFormatError(f"{paths['labels']}: label {labels.max()} is not in 0..9")
    return images, labels.astype(np.int64)


def list_sample_images() -> list[str]:
    """Names accepted by :func:`sample_image`, sorted."""
    return registry.sample_names()


def sample_image(name: str, *, as_gray: bool = False) -> np.ndarray:
    """A picture bundled with scikit-image, as float32 (H, W, C) in [0, 1].

    C is 3 for colour pictures, 1 for grey ones or with ``as_gray=True``
    (luma with the ITU-R BT.709 weights that ``skimage.color.rgb2gray`` uses).
    """
    names = list_sample_images()
    if name not in names:
        raise ValueError(f"unknown sample image {name!r}; available: {', '.join(names)}")
    import skimage.data  # lazily: importing scikit-image takes a while

    entry = registry.sample(name)
    raw = getattr(skimage.data, entry["function"])()
    if list(raw.shape) != entry["shape"]:
        warnings.warn(
            f"scikit-image returned {name} with shape {raw.shape}, the registry "
            f"expects {tuple(entry['shape'])}; the picture may have changed upstream",
            stacklevel=2,
        )
    img = raw.astype(np.float32) / np.float32(255)
    if img.ndim == 2:
        img = img[..., None]  # (H, W) -> (H, W, 1)
    if as_gray and img.shape[-1] == 3:
        luma = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
        img = (img @ luma)[..., None]  # (H, W, 3) @ (3,) -> (H, W, 1)
    return np.clip(img, 0.0, 1.0)  # the luma weights sum to 1 only up to rounding


# ---------------------------------------------------------------------------
# Two-dimensional toy data for the GAN chapter
# ---------------------------------------------------------------------------

TOY_2D = ("ring", "grid")


def toy_2d_modes(name: str) -> tuple[np.ndarray, float]:
    """The centres float64 (M, 2) and the common standard deviation of a toy mixture.

    ``"ring"``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02
    (Metz et al. 2017; Srivastava et al. 2017). ``"grid"``: 25 Gaussians at
    {-4, -2, 0, 2, 4}^2, std 0.05 (Srivastava et al. 2017; Lin et al. 2018).
    """
    if name == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.02
    if name == "grid":
        ticks = np.arange(-4.0, 5.0, 2.0)
        gx, gy = np.meshgrid(ticks, ticks, indexing="ij")
        return np.stack([gx.ravel(), gy.ravel()], axis=1), 0.05
    raise ValueError(f"toy mixture must be one of {TOY_2D}, got {name!r}")


def toy_2d(name: str, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` samples float64 (n, 2) of the mixture ``name`` with equal weights.

    Deterministic in ``seed``: the mode of each sample, then its Gaussian
    offset, are drawn from ``np.random.default_rng(seed)``.
    """
    centers, std = toy_2d_modes(name)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(centers), size=n)  # (n,)
    return centers[which] + std * rng.standard_normal((n, 2))  # (n, 2)


# ---------------------------------------------------------------------------
# Binarised pictures for the VAE chapter
# ---------------------------------------------------------------------------


def binarize(images_uint8: np.ndarray, seed: int = 0) -> np.ndarray:
    """Pixels sampled as Bernoulli variables with probability ``grey / 255``: float32 in {0, 1}.

    ``np.random.default_rng(seed).random(shape) < images / 255``, the
    "stochastic binarisation" of Salakhutdinov & Murray (2008) that the VAE
    literature's binarised MNIST uses. The test set is binarised *once*, with
    ``seed=0``, so that every model is scored on the same pixels; training
    draws fresh pixels every epoch (dynamic binarisation). Any shape.
    """
    a = np.asarray(images_uint8)
    if a.dtype != np.uint8:
        raise ValueError(f"binarize expects uint8 grey levels 0..255, got dtype {a.dtype}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an int, got {seed!r}")
    u = np.random.default_rng(seed).random(a.shape)  # float64 uniforms, one per pixel
    return (u < a / 255.0).astype(np.float32)


def _status_lines() -> list[str]:
    ds = registry.dataset(FASHION_MNIST)
    lines = [f"{FASHION_MNIST}: {ds['title']}, {ds['licence']}, {ds['copyright']}"]
    for split in SPLITS:
        found, searched = locate_fashion_mnist(split)
        if found is None:
            lines += [f"  {split}: NOT FOUND; searched:", *(f"    {s}" for s in searched)]
            lines.append(f"    get it with: python -m course_lib.data fetch {FASHION_MNIST}")
            continue
        try:
            files = _split_files(split)
            for kind, path in found.items():
                read_idx(path, files[kind][1], kind)
            verdict = "sha256 ok"
        except (registry.ChecksumError, IdxFormatError) as err:
            verdict = f"BAD: {err}"
        lines.append(f"  {split}: {searched[-1].removesuffix(': found')} ({verdict})")
    import skimage.data

    names = list_sample_images()
    present = [
        n for n in names if (Path(skimage.data.data_dir) / registry.sample(n)["file"]).is_file()
    ]
    lines.append(f"sample pictures: {len(present)} of {len(names)} present: {', '.join(present)}")
    checkpoints = registry.load_registry().get("checkpoints", {})
    lines.append(f"checkpoints: {', '.join(checkpoints) or 'none registered yet'}")
    for name, entry in registry.load_registry().get("weights", {}).items():
        where = "optional" if entry["optional"] else "required"
        where += ", not available offline" if not entry["available_offline"] else ""
        lines.append(f"weights {name}: {where} ({entry['urls'][0]})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """``status`` or ``fetch fashion-mnist``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="where each dataset and asset was found")
    fetch = sub.add_parser("fetch", help="make sure a dataset is present, downloading it if needed")
    fetch.add_argument("dataset", choices=[FASHION_MNIST])
    fetch.add_argument(
        "--no-download", action="store_true", help="only look locally; fail if not found"
    )
    args = parser.parse_args(argv)
    if args.command == "status":
        print("\n".join(_status_lines()))
        return 0
    try:
        for split in SPLITS:
            images, _ = load_fashion_mnist(split, download=not args.no_download)
            where = locate_fashion_mnist(split)[1][-1].removesuffix(": found")
            print(f"{FASHION_MNIST} {split}: {len(images)} pictures, verified, in {where}")
    except (DatasetNotFoundError, registry.ChecksumError, IdxFormatError) as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
