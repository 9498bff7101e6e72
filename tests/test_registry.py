"""Tests of course_lib.registry: the registry is complete, and files are checked against it."""

from __future__ import annotations

import copy
import gzip
import hashlib
from pathlib import Path

import pytest

from course_lib import data, registry


def test_registry_is_complete():
    assert registry.validate_registry() == []


def test_every_entry_names_licence_and_source():
    reg = registry.load_registry()
    entries = [*reg["datasets"].values(), *reg["samples"].values(), *reg["weights"].values()]
    assert len(entries) >= 3
    for entry in entries:
        assert entry["licence"].strip() and entry["source"].strip()
    for name, file in registry.dataset_files("fashion-mnist").items():
        assert len(file["sha256"]) == 64 and file["size"] > 0, name
        assert len(file["gz_md5"]) == 32, name  # the authors' published digest, kept for reference


def test_fashion_mnist_entry_matches_the_loader():
    entry = registry.dataset("fashion-mnist")
    assert entry["licence"] == "MIT" and "Zalando" in entry["copyright"]
    assert Path(entry["debian_dir"]) == data.DEBIAN_DIR
    assert len(entry["classes"]) == data.NUM_CLASSES
    files = registry.dataset_files("fashion-mnist")
    assert sorted(files) == [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]
    for file in files.values():
        # an IDX payload is its header (4 bytes + 4 per dimension) plus one byte per value
        shape = file["shape"]
        n_values = shape[0] * (shape[1] * shape[2] if len(shape) == 3 else 1)
        assert file["size"] == 4 + 4 * len(shape) + n_values


@pytest.mark.parametrize("name", registry.sample_names())
def test_sample_digests_match_the_files_scikit_image_reads(name):
    import skimage.data

    entry = registry.sample(name)
    path = Path(skimage.data.data_dir) / entry["file"]
    digest = registry.verify_file(path, entry)
    assert digest.size == entry["size"]
    assert list(getattr(skimage.data, entry["function"])().shape) == entry["shape"]


def test_pretrained_weights_are_optional_and_offline():
    vgg = registry.weights("vgg19-imagenet")
    assert vgg["optional"] is True and vgg["available_offline"] is False
    assert vgg["file"].startswith("vgg19-") and vgg["urls"][0].endswith(vgg["file"])
    # torch.hub names the file after the first 8 hex digits of its SHA-256
    assert vgg["file"] == f"vgg19-{vgg['sha256_prefix']}.pth"


def test_unknown_names_say_what_exists():
    with pytest.raises(KeyError, match="known: .*astronaut"):
        registry.sample("lena")
    with pytest.raises(KeyError, match="known: .*cnn"):
        registry.checkpoint("resnet")


def write(tmp_path: Path, payload: bytes, name: str = "file.bin") -> tuple[Path, dict]:
    path = tmp_path / name
    path.write_bytes(payload)
    return path, {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}


def test_verify_file_accepts_the_right_file(tmp_path):
    path, entry = write(tmp_path, b"weights" * 1000)
    assert registry.verify_file(path, entry) == registry.Digest(entry["sha256"], 7000)


def test_verify_file_names_file_expected_and_actual(tmp_path):
    path, entry = write(tmp_path, b"weights")
    path.write_bytes(b"weightz")
    with pytest.raises(registry.ChecksumError) as err:
        registry.verify_file(path, entry)
    message = str(err.value)
    assert str(path) in message and entry["sha256"] in message
    assert hashlib.sha256(b"weightz").hexdigest() in message


def test_verify_file_checks_the_size_too(tmp_path):
    path, entry = write(tmp_path, b"weights")
    with pytest.raises(registry.ChecksumError, match=r"\(8 bytes\)"):
        registry.verify_file(path, {**entry, "size": 8})


def test_verify_file_with_only_a_prefix(tmp_path):
    path, entry = write(tmp_path, b"weights")
    registry.verify_file(path, {"sha256_prefix": entry["sha256"][:8]})
    with pytest.raises(registry.ChecksumError, match="expected sha256 00000000..."):
        registry.verify_file(path, {"sha256_prefix": "00000000"})


def test_verify_file_hashes_the_decompressed_payload(tmp_path):
    payload = b"\0\0\x08\x01" + bytes(100)
    gz_path = tmp_path / "labels.gz"
    gz_path.write_bytes(gzip.compress(payload, compresslevel=1, mtime=0))
    entry = {"sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload)}
    registry.verify_file(gz_path, entry, decompress=True)
    with pytest.raises(registry.ChecksumError):
        registry.verify_file(gz_path, entry)  # the compressed bytes differ from the payload
    gz_path.write_bytes(gz_path.read_bytes()[:-10])
    with pytest.raises(registry.ChecksumError, match="corrupt or truncated"):
        registry.verify_file(gz_path, entry, decompress=True)
    with pytest.raises(FileNotFoundError):
        registry.verify_file(tmp_path / "absent.gz", entry, decompress=True)


CHECKPOINT = {
    "path": "cnn.pt",
    "sha256": "",
    "size": 0,
    "licence": "MIT",
    "source": "trained by the course authors",
    "command": "python -m course_lib.torch_nn.train cnn --steps 10",
    "metrics": {"test_accuracy": 0.5},
}


@pytest.fixture
def with_checkpoint(tmp_path, monkeypatch):
    """A registry with one checkpoint ``cnn`` whose file sits in tmp_path."""
    path, digest = write(tmp_path, b"a trained network", "cnn.pt")
    reg = copy.deepcopy(registry.load_registry())
    reg["checkpoints"]["cnn"] = {**CHECKPOINT, "path": path.name, **digest}
    monkeypatch.setattr(registry, "load_registry", lambda: reg)
    return reg, path


def test_checkpoint_schema(with_checkpoint):
    reg, _ = with_checkpoint
    assert registry.validate_registry(reg) == []
    del reg["checkpoints"]["cnn"]["command"]
    reg["checkpoints"]["cnn"]["metrics"] = {}
    problems = registry.validate_registry(reg)
    assert "checkpoints.cnn: missing 'command'" in problems
    assert any("checkpoints.cnn: metrics" in p for p in problems)


def test_verify_checkpoint(with_checkpoint, tmp_path):
    _, path = with_checkpoint
    assert registry.verify_checkpoint("cnn", directory=tmp_path) == path
    path.write_bytes(b"a retrained network")
    with pytest.raises(registry.ChecksumError, match="cnn.pt"):
        registry.verify_checkpoint("cnn", directory=tmp_path)


def test_validate_catches_bad_digests_sizes_and_weights():
    reg = copy.deepcopy(registry.load_registry())
    reg["samples"]["camera"]["sha256"] = reg["samples"]["camera"]["sha256"].upper()
    reg["samples"]["coins"]["size"] = 0
    del reg["samples"]["coffee"]["licence"]
    reg["weights"]["vgg19-imagenet"]["available_offline"] = True
    del reg["checkpoints"]
    problems = "\n".join(registry.validate_registry(reg))
    assert "samples.camera: sha256" in problems
    assert "samples.coins: size 0" in problems
    assert "samples.coffee: missing 'licence'" in problems
    assert "weights.vgg19-imagenet: no full sha256" in problems
    assert "missing section [checkpoints]" in problems
