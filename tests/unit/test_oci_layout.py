"""The OCI layout the images live in: pruning keeps what the kept images reach, a stream holds exactly one image."""
import hashlib
import io
import json
import tarfile

import pytest

from llmstack import oci_layout

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def put(layout, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def image(layout, name: str, layers: list[bytes]) -> dict:
    config = put(layout, json.dumps({"name": name}).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config,
                "layers": [put(layout, data) | {"mediaType": "application/vnd.oci.image.layer.v1.tar"}
                           for data in layers]}
    return put(layout, json.dumps(manifest).encode()) | {"mediaType": MANIFEST,
                                                         "annotations": {oci_layout.REF_NAME: name}}


@pytest.fixture
def layout(tmp_path):
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    base = b"base layer" * 100
    entries = [image(tmp_path, "example/base:1", [base]), image(tmp_path, "example/app:1", [base, b"app v1"]),
               image(tmp_path, "example/old:0", [b"old layer"])]
    (tmp_path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    return tmp_path


def test_prune_keeps_what_kept_images_reach_and_frees_the_rest(layout):
    before = {p.name for p in (layout / "blobs" / "sha256").iterdir()}
    freed = oci_layout.prune(layout, {"example/base:1", "example/app:1"})
    after = {p.name for p in (layout / "blobs" / "sha256").iterdir()}
    assert oci_layout.refs(layout) == {"example/base:1", "example/app:1"}
    assert len(before - after) == 3  # the old image's manifest, config and layer
    assert freed > len(b"old layer")  # its layer, config and manifest
    assert oci_layout.size(layout, "example/app:1") > len(b"base layer" * 100)


def test_a_stream_holds_one_image_and_its_blobs_only(layout):
    out = io.BytesIO()
    oci_layout.stream(layout, {"example/app:1"}, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile("index.json").read())
    assert names[:2] == ["oci-layout", "index.json"]
    assert [m["annotations"][oci_layout.REF_NAME] for m in index["manifests"]] == ["example/app:1"]
    blobs = [n for n in names if n.startswith("blobs/")]
    assert len(blobs) == 4  # manifest, config, the shared base layer and its own layer, each once


def test_an_image_not_built_is_named(layout):
    with pytest.raises(KeyError, match="example/missing:1.*make images"):
        oci_layout.stream(layout, {"example/missing:1"}, io.BytesIO())
