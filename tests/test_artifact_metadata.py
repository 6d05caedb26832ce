"""The metadata checks of docs/contract.md §2, which the Java bridge makes too."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobile_core.contract.artifacts import make_metadata, spec_from_metadata
from mobile_core.contract.chunking import ChunkSpec
from mobile_core.contract.runtimes import check_metadata
from mobile_core.errors import ModelFileError

SPEC = ChunkSpec(44100, 48384, 5040, 3024, 1008)
STEMS = ["vocals", "drums", "bass", "other"]


def _meta(**changes) -> dict:
    meta = make_metadata(SPEC, STEMS, "tiny", "0123456789abcdef", "fp32", "pte")
    for key, value in changes.items():
        if value is ...:
            meta.pop(key)
        else:
            meta[key] = value
    return meta


def test_valid_metadata_passes_and_whole_floats_read_as_ints():
    check_metadata(_meta(), Path("m.pte"), "pte")
    check_metadata(_meta(kind="ort"), Path("m.onnx"), "onnx")  # interchangeable
    meta = _meta(hop=1008.0, chunk=48384.0)
    check_metadata(meta, Path("m.pte"), "pte")
    assert spec_from_metadata(meta) == SPEC
    check_metadata(_meta(input=..., output=...), Path("m.pte"), "pte")  # shapes are optional


@pytest.mark.parametrize("changes, message", [
    ({"kind": ...}, "no 'kind'"),
    ({"kind": "ptl"}, "says kind 'ptl'"),
    ({"channels": ...}, "malformed"),
    ({"channels": 1}, "channels 1"),
    ({"hop": "1008"}, "not a number"),
    ({"hop": True}, "not a number"),
    ({"chunk": 48384.5}, "not a whole number"),
    ({"sample_rate": ...}, "malformed"),
    ({"sample_rate": 4000}, "sample_rate 4000"),
    ({"hop": 0}, "non-positive"),
    ({"context": 5041}, "multiples of hop"),
    ({"chunk": 8064}, "leaves no room"),
    ({"stems": []}, "stems"),
    ({"stems": ["a", "a"]}, "stems"),
    ({"stems": ["a", 3]}, "stems"),
    ({"stems": ["../x", "b"]}, "stems"),
    ({"stems": "vocals"}, "stems"),
    ({"input": {"name": "mix", "shape": [1, 2, 100]}}, "input shape"),
    ({"output": {"name": "stems", "shape": [1, 3, 2, 48384]}}, "output shape"),
])
def test_each_refusal_is_one_model_file_error(changes, message):
    with pytest.raises(ModelFileError, match=message) as err:
        check_metadata(_meta(**changes), Path("m.pte"), "pte")
    assert "\n" not in str(err.value) and "m.pte" in str(err.value)
