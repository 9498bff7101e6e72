"""Tests of course_lib.data: the Fashion-MNIST search order, verification,
downloads (never over the network), the IDX parser, the sample pictures and
the 2-D toy mixtures of Chapter 6."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from course_lib import data, registry

REAL_DEBIAN_DIR = data.DEBIAN_DIR
REAL_DOWNLOAD_URL = data.download_url
NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: magic 00 00 08 ndim, big-endian dims, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


class FakeDataset:
    """Tiny synthetic Fashion-MNIST whose digests replace the registry's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, n_train: int = 7, n_test: int = 5):
        rng = np.random.default_rng(0)
        self.arrays: dict[tuple[str, str], np.ndarray] = {}
        for split, n in (("train", n_train), ("test", n_test)):
            self.arrays[split, "images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            self.arrays[split, "labels"] = rng.integers(0, 10, n).astype(np.uint8)
        self.payloads = {NAMES[key]: idx_bytes(a) for key, a in self.arrays.items()}
        self.entries = {
            NAMES[key]: {"split": key[0], "kind": key[1], "shape": list(self.arrays[key].shape)}
            for key in self.arrays
        }
        for name in self.payloads:
            self.set_payload(name, self.payloads[name])
        monkeypatch.setattr(registry, "dataset_files", lambda _name: self.entries)

    def set_payload(self, name: str, payload: bytes) -> None:
        """Register ``payload`` (even a malformed one) as the expected content of ``name``."""
        self.payloads[name] = payload
        self.entries[name].update(sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))

    def gz(self, name: str) -> bytes:
        return gzip.compress(self.payloads[name], mtime=0)

    def write(self, folder: Path, *, gz: bool = True, names: list[str] | None = None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name in names or list(self.payloads):
            if gz:
                (folder / f"{name}.gz").write_bytes(self.gz(name))
            else:
                (folder / name).write_bytes(self.payloads[name])
        return folder


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real cache, no Debian folder, no $COURSE_DATA_DIR, and a network that records calls."""
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    calls: list[str] = []

    def offline(url: str, dest) -> None:
        calls.append(url)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(data, "download_url", offline)
    return calls


@pytest.fixture
def fake(monkeypatch) -> FakeDataset:
    return FakeDataset(monkeypatch)


def cache_folder(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "course_lib" / "fashion-mnist"


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="'validation'"):
        data.load_fashion_mnist("validation")


def test_search_order_root_env_cache_debian(tmp_path, monkeypatch, fake, isolated):
    places = [tmp_path / "root", tmp_path / "env", cache_folder(tmp_path), tmp_path / "debian"]
    for folder in places:
        fake.write(folder)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(places[1]))
    for expected in places:
        found, _ = data.locate_fashion_mnist("train", root=places[0])
        assert found is not None and found["images"].parent == expected
        for file in expected.iterdir():
            file.unlink()  # the next place must now win
    found, searched = data.locate_fashion_mnist("train", root=places[0])
    assert found is None and len(searched) == 4
    assert isolated == []


def test_root_is_read_before_a_corrupt_env_folder(tmp_path, monkeypatch, fake):
    fake.write(tmp_path / "root")
    env = fake.write(tmp_path / "env")
    (env / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"garbage"))
    monkeypatch.setenv(data.ENV_DATA_DIR, str(env))
    images, labels = data.load_fashion_mnist("train", root=tmp_path / "root")
    np.testing.assert_array_equal(images, fake.arrays["train", "images"])
    np.testing.assert_array_equal(labels, fake.arrays["train", "labels"])
    with pytest.raises(registry.ChecksumError, match="train-images-idx3-ubyte.gz"):
        data.load_fashion_mnist("train")


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "decompressed"])
def test_one_changed_pixel_is_caught(tmp_path, fake, gz):
    root = fake.write(tmp_path / "root", gz=gz, names=["t10k-labels-idx1-ubyte"])
    changed = bytearray(fake.payloads["t10k-images-idx3-ubyte"])
    changed[-1] ^= 1  # same size, one bit off: only the digest can tell
    if gz:
        (root / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(changed))
    else:
        (root / "t10k-images-idx3-ubyte").write_bytes(changed)
    with pytest.raises(registry.ChecksumError) as err:
        data.load_fashion_mnist("test", root=root)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte" in message
    assert fake.entries["t10k-images-idx3-ubyte"]["sha256"] in message
    assert hashlib.sha256(changed).hexdigest() in message


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "decompressed"])
def test_loads_gz_and_decompressed_files(tmp_path, fake, gz):
    fake.write(tmp_path / "root", gz=gz)
    images, labels = data.load_fashion_mnist("test", root=tmp_path / "root")
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28)
    assert labels.dtype == np.int64 and labels.shape == (5,)
    np.testing.assert_array_equal(images, fake.arrays["test", "images"])
    np.testing.assert_array_equal(labels, fake.arrays["test", "labels"])


def test_folder_missing_a_file_is_skipped(tmp_path, monkeypatch, fake):
    env = fake.write(tmp_path / "env", names=["train-images-idx3-ubyte"])
    monkeypatch.setenv(data.ENV_DATA_DIR, str(env))
    fake.write(tmp_path / "debian")
    found, searched = data.locate_fashion_mnist("train")
    assert found is not None and found["labels"].parent == tmp_path / "debian"
    assert "missing train-labels-idx1-ubyte" in searched[1]


@pytest.mark.skipif(
    not (REAL_DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Debian package dataset-fashion-mnist is not installed ({REAL_DEBIAN_DIR} absent)",
)
@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_real_debian_files(monkeypatch, split, n):
    monkeypatch.setattr(data, "DEBIAN_DIR", REAL_DEBIAN_DIR)
    images, labels = data.load_fashion_mnist(split, download=False)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert images.max() == 255 and images.min() == 0
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [n // 10] * 10)


def serve(fake: FakeDataset, monkeypatch, body=None) -> list[str]:
    """Replace the downloader by one that serves the fake .gz files (or ``body(name)``)."""
    calls: list[str] = []

    def fake_download(url: str, dest) -> None:
        calls.append(url)
        name = url.rsplit("/", 1)[1].removesuffix(".gz")
        dest.write(body(name) if body else fake.gz(name))

    monkeypatch.setattr(data, "download_url", fake_download)
    return calls


def test_download_lands_verified_in_the_cache(tmp_path, monkeypatch, fake):
    calls = serve(fake, monkeypatch)
    images, _ = data.load_fashion_mnist("train")
    np.testing.assert_array_equal(images, fake.arrays["train", "images"])
    base = registry.dataset("fashion-mnist")["base_urls"][0]
    assert calls == [f"{base}train-images-idx3-ubyte.gz", f"{base}train-labels-idx1-ubyte.gz"]
    assert sorted(p.name for p in cache_folder(tmp_path).iterdir()) == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    data.load_fashion_mnist("train")  # now found in the cache: no second download
    assert len(calls) == 2


def test_mirror_is_tried_when_the_first_url_fails(monkeypatch, fake):
    calls = serve(fake, monkeypatch)
    first = registry.dataset("fashion-mnist")["base_urls"][0]
    serving = data.download_url

    def flaky(url: str, dest) -> None:
        if url.startswith(first):
            calls.append(url)
            raise OSError("connection reset")
        serving(url, dest)

    monkeypatch.setattr(data, "download_url", flaky)
    images, _ = data.load_fashion_mnist("test")
    assert len(images) == 5 and len(calls) == 4


def test_checksum_mismatch_is_rejected_and_leaves_nothing(tmp_path, monkeypatch, fake):
    serve(fake, monkeypatch, body=lambda name: gzip.compress(b"\0\0\x08\x03 not the data"))
    with pytest.raises(registry.ChecksumError) as err:
        data.load_fashion_mnist("train")
    message = str(err.value)
    expected = fake.entries["train-images-idx3-ubyte"]["sha256"]
    actual = hashlib.sha256(b"\0\0\x08\x03 not the data").hexdigest()
    assert "train-images-idx3-ubyte.gz" in message and expected in message and actual in message
    assert list(cache_folder(tmp_path).iterdir()) == []


def test_truncated_download_leaves_nothing(tmp_path, monkeypatch, fake):
    serve(fake, monkeypatch, body=lambda name: fake.gz(name)[: len(fake.gz(name)) // 2])
    with pytest.raises(registry.ChecksumError, match="corrupt"):
        data.load_fashion_mnist("train")
    assert list(cache_folder(tmp_path).iterdir()) == []


def test_connection_dropped_midway_leaves_nothing(tmp_path, monkeypatch, fake):
    def dropped(url: str, dest) -> None:
        dest.write(b"\x1f\x8b partial")
        raise ConnectionResetError("peer went away")

    monkeypatch.setattr(data, "download_url", dropped)
    with pytest.raises(data.DatasetNotFoundError, match="peer went away"):
        data.load_fashion_mnist("test")
    assert list(cache_folder(tmp_path).iterdir()) == []


def test_offline_without_data_says_how_to_get_it(tmp_path, monkeypatch, isolated):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_fashion_mnist("train", root=tmp_path / "root")
    assert isinstance(err.value, RuntimeError)
    message = str(err.value)
    for phrase in [
        str(tmp_path / "root"),
        str(tmp_path / "env"),
        str(cache_folder(tmp_path)),
        str(tmp_path / "debian"),
        "network disabled in tests",
        "sudo apt-get install dataset-fashion-mnist",
        "export COURSE_DATA_DIR=",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "t10k-labels-idx1-ubyte.gz",
        "make data",
        "python -m course_lib.data fetch fashion-mnist",
    ]:
        assert phrase in message
    assert len(isolated) == 2  # both URLs of the first file were tried


def test_download_false_never_touches_the_network(isolated):
    with pytest.raises(data.DatasetNotFoundError, match=r"not attempted \(download=False\)"):
        data.load_fashion_mnist("test", download=False)
    assert isolated == []


def test_download_url_streams_a_local_file(tmp_path):
    # The real downloader (saved before the fixture replaced it) on a file:// URL: no network.
    source = tmp_path / "payload.bin"
    source.write_bytes(bytes(range(256)) * 5000)
    buffer = io.BytesIO()
    REAL_DOWNLOAD_URL(source.as_uri(), buffer)
    assert buffer.getvalue() == source.read_bytes()


def malformed(kind: str, problem: str) -> bytes:
    images = np.zeros((7, 28, 28), np.uint8)
    if problem == "magic":
        return b"\0\0\x09\x03" + idx_bytes(images)[4:]  # 0x09 = signed byte
    if problem == "ndim":
        return idx_bytes(images.reshape(7, 784)) if kind == "images" else idx_bytes(images)
    if problem == "size":
        return idx_bytes(np.zeros((7, 27, 28), np.uint8))
    if problem == "short":
        return idx_bytes(images)[:-28]
    if problem == "label":
        return idx_bytes(np.full(7, 10, np.uint8))
    raise AssertionError(problem)


@pytest.mark.parametrize(
    "kind, problem, match",
    [
        ("images", "magic", "magic number 00000903"),
        ("images", "ndim", "expected 00000803"),
        ("labels", "ndim", "expected 00000801"),
        ("images", "size", r"images are \(27, 28\)"),
        ("images", "short", "header declares dims"),
        ("labels", "label", "label 10 is not in 0..9"),
    ],
)
def test_malformed_idx_files_are_rejected(tmp_path, fake, kind, problem, match):
    name = NAMES["train", kind]
    fake.set_payload(name, malformed(kind, problem))
    fake.write(tmp_path / "root")
    with pytest.raises(data.IdxFormatError, match=match):
        data.load_fashion_mnist("train", root=tmp_path / "root")


def test_image_and_label_counts_must_agree(tmp_path, fake):
    fake.set_payload(NAMES["train", "labels"], idx_bytes(np.zeros(3, np.uint8)))
    fake.write(tmp_path / "root")
    with pytest.raises(data.IdxFormatError, match="7 images but .* 3 labels"):
        data.load_fashion_mnist("train", root=tmp_path / "root")


@pytest.mark.parametrize("name", registry.sample_names())
def test_sample_images(name):
    import skimage.data

    entry = registry.sample(name)
    img = data.sample_image(name)
    raw = getattr(skimage.data, entry["function"])()
    channels = 3 if raw.ndim == 3 else 1
    assert img.dtype == np.float32 and img.shape == (*raw.shape[:2], channels)
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.5
    np.testing.assert_array_equal(np.round(img * 255).astype(np.uint8), raw.reshape(img.shape))
    gray = data.sample_image(name, as_gray=True)
    assert gray.dtype == np.float32 and gray.shape == (*raw.shape[:2], 1)
    if channels == 3:
        from skimage.color import rgb2gray

        np.testing.assert_allclose(gray[..., 0], rgb2gray(raw), atol=1e-6)


def test_unknown_sample_image_lists_the_names():
    assert "astronaut" in data.list_sample_images()
    with pytest.raises(ValueError, match="'lena'.*astronaut.*camera"):
        data.sample_image("lena")


def test_cli_status_and_fetch(tmp_path, monkeypatch, fake, capsys):
    assert data.main(["fetch", "fashion-mnist"]) == 1
    assert "sudo apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    assert data.main(["status"]) == 0
    assert "train: NOT FOUND" in capsys.readouterr().out
    fake.write(tmp_path / "env")
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "env"))
    assert data.main(["fetch", "fashion-mnist"]) == 0
    assert (
        f"fashion-mnist test: 5 pictures, verified, in $COURSE_DATA_DIR {tmp_path / 'env'}"
        in capsys.readouterr().out
    )
    assert data.main(["status"]) == 0
    assert f"train: $COURSE_DATA_DIR {tmp_path / 'env'} (sha256 ok)" in capsys.readouterr().out


def test_toy_2d_modes_are_the_ring_and_the_grid():
    ring, ring_std = data.toy_2d_modes("ring")
    assert ring.shape == (8, 2) and ring.dtype == np.float64 and ring_std == 0.02
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0, rtol=1e-15)
    angles = np.sort(np.mod(np.arctan2(ring[:, 1], ring[:, 0]), 2 * np.pi))
    np.testing.assert_allclose(angles, np.arange(8) * np.pi / 4, atol=1e-12)  # evenly spaced
    grid, grid_std = data.toy_2d_modes("grid")
    assert grid.shape == (25, 2) and grid.dtype == np.float64 and grid_std == 0.05
    expected = {(float(a), float(b)) for a in range(-4, 5, 2) for b in range(-4, 5, 2)}
    assert {tuple(map(float, c)) for c in grid} == expected


@pytest.mark.parametrize("name", data.TOY_2D)
def test_toy_2d_shapes_and_determinism(name):
    x = data.toy_2d(name, 100, seed=3)
    assert x.shape == (100, 2) and x.dtype == np.float64
    np.testing.assert_array_equal(x, data.toy_2d(name, 100, seed=3))
    assert not np.array_equal(x, data.toy_2d(name, 100, seed=4))
    assert data.toy_2d(name, 0).shape == (0, 2)
    assert data.toy_2d(name, np.int64(5)).shape == (5, 2)


@pytest.mark.parametrize("name", data.TOY_2D)
def test_toy_2d_has_the_stated_std_and_equal_modes(name):
    n = 40_000
    centers, std = data.toy_2d_modes(name)
    x = data.toy_2d(name, n, seed=0)
    nearest = np.linalg.norm(x[:, None] - centers[None], axis=2).argmin(1)  # (n,)
    offsets = x - centers[nearest]  # (n, 2): the modes are 40+ std apart, none is misassigned
    # Each coordinate's std, estimated from 2n values: relative standard error 1 / sqrt(4n).
    assert abs(offsets.std() / std - 1) < 5 / np.sqrt(4 * n)
    np.testing.assert_allclose(offsets.mean(0), 0.0, atol=5 * std / np.sqrt(n))
    counts = np.bincount(nearest, minlength=len(centers))  # (M,)
    p = 1 / len(centers)
    assert np.all(np.abs(counts / n - p) < 5 * np.sqrt(p * (1 - p) / n)), counts


@pytest.mark.parametrize(
    ("name", "n", "match"),
    [
        ("spiral", 10, "must be one of .*ring.*grid.*'spiral'"),
        ("ring", -1, "non-negative int"),
        ("ring", 2.0, "non-negative int"),
        ("grid", True, "non-negative int"),
    ],
)
def test_toy_2d_rejects_a_bad_name_or_n(name, n, match):
    with pytest.raises(ValueError, match=match):
        data.toy_2d(name, n)


def test_toy_2d_modes_rejects_a_bad_name():
    with pytest.raises(ValueError, match="'swissroll'"):
        data.toy_2d_modes("swissroll")
