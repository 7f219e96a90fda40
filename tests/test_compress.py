import dataclasses
import math
from collections import Counter

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.techniques import compress as C

# Han et al. prune the big fully connected layers hardest and the first convolution least.
LAYERS = {"0": 0.5, "2": 0.8, "6": 0.95, "9": 0.7}
TEXTBOOK = {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5}


def test_huffman_is_optimal_on_the_textbook_example():
    lengths = C.huffman_code_lengths(TEXTBOOK)
    assert sum(TEXTBOOK[s] * n for s, n in lengths.items()) == 224
    assert lengths["a"] == 1 and lengths["f"] == 4
    codes = list(C.canonical_codes(lengths).values())
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)  # a prefix code
    assert C.huffman_code_lengths({"z": 3}) == {"z": 1}


def test_huffman_round_trips_close_to_the_entropy():
    rng = np.random.default_rng(0)
    data = rng.choice(16, size=50_000, p=np.r_[0.4, 0.2, 0.1, [0.3 / 13] * 13]).astype(np.uint8).tobytes()
    blob = C.huffman_encode(data)
    assert C.huffman_decode(blob) == data
    p = np.array(list(Counter(data).values())) / len(data)
    entropy = -(p * np.log2(p)).sum()
    assert entropy <= 8 * (len(blob) - 6 - 16) / len(data) <= entropy + 1  # header: count, table of 16 lengths
    for edge in (b"", b"\x07" * 100):
        assert C.huffman_decode(C.huffman_encode(edge)) == edge
    with pytest.raises(C.CompressedFileError, match="truncated"):
        C.huffman_decode(blob[:-100])


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


@pytest.fixture(scope="module")
def pipeline(digits, large, tmp_path_factory):
    path = tmp_path_factory.mktemp("dc") / "digits-large.lldc"
    before = {k: v.clone() for k, v in large.state_dict().items()}
    result = C.compress(large, digits, path, C.CompressConfig(sparsity=LAYERS, bits=4))
    assert all(torch.equal(before[k], v) for k, v in large.state_dict().items())  # the input is left alone
    return result


def test_pipeline_meets_the_deep_compression_targets(pipeline, digits, large):
    r = pipeline.report
    assert pipeline.size == r.value("coded", "size") == pipeline.path.stat().st_size
    sizes = [r.value(stage, "size") for stage in C.STAGES]
    assert sizes == sorted(sizes, reverse=True)  # every stage makes the file smaller
    assert 4.4e6 < sizes[0] < 4.6e6  # 1.13 M float32 weights
    assert pipeline.ratio >= 25
    assert r.value("fp32", "accuracy") == pytest.approx(100 * ll.train.evaluate(large, digits))
    assert r.value("coded", "accuracy") >= r.value("fp32", "accuracy") - 1
    assert r.value("coded", "accuracy") == r.value("quantized", "accuracy")  # entropy coding is lossless


def test_file_restores_the_compressed_model(pipeline, digits):
    again = C.load_compressed(pipeline.path, "digits-large")
    for key, value in pipeline.model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    for name, sparsity in LAYERS.items():
        weight = again.get_submodule(name).weight
        assert (weight == 0).float().mean().item() == pytest.approx(sparsity, abs=1e-3)
        assert len(weight[weight != 0].unique()) <= 16
    assert 100 * ll.train.evaluate(again, digits) == pipeline.report.value("coded", "accuracy")


def test_entropy_coders_shrink_the_quantized_file(pipeline):
    sizes = C.compare_coders(pipeline.model, C.CompressConfig(sparsity=LAYERS, bits=4))
    assert sizes.value("none", "size") == pipeline.report.value("quantized", "size")
    for coder in ("huffman", "zlib", "lzma"):
        assert sizes.value(coder, "size") < 0.7 * sizes.value("none", "size")


def test_file_holds_what_the_table_says(pipeline):
    rows = {row["tensor"]: row for row in C.file_contents(pipeline.path)}
    assert rows["6.weight"]["stored as"] == "shared" and rows["6.bias"]["stored as"] == "dense"
    assert rows["6.bias"]["bytes"] == 512 * 4
    # the fc 2048->512 layer dominates the file even after compression
    assert rows["6.weight"]["bytes"] > 0.5 * pipeline.size
    # 5 % of its 1,048,576 weights kept: far less than one float32 each
    assert rows["6.weight"]["bytes"] < 0.05 * 1_048_576 * 4 / 2


def test_save_without_finetuning_and_coders(tmp_path, digits):
    small = ll.zoo.pretrained("digits-small")
    config = C.CompressConfig(sparsity=0.5, bits=5, coder="lzma")
    result = C.save_compressed(small, tmp_path / "small.lldc", config, task=digits)
    # no fine-tuning: a real but bounded loss (compress() fine-tunes it back)
    assert 80 < result.report.value("coded", "accuracy") < result.report.value("fp32", "accuracy")
    coded = result.model.get_submodule("1").weight
    assert len(coded[coded != 0].unique()) <= 32
    # packed indices: the quantized stage stores ceil(kept * bits / 8) bytes for them
    kept = math.ceil(0.5 * 64 * 32)
    packed = C.save_compressed(small, tmp_path / "q.lldc", dataclasses.replace(config, coder="none")).path
    rows = {row["tensor"]: row for row in C.file_contents(packed)}
    assert rows["1.weight"]["bytes"] == 64 * 32 // 8 + 32 * 4 + math.ceil(kept * 5 / 8)


def test_corrupted_or_foreign_files_fail_clearly(tmp_path):
    small = ll.zoo.pretrained("digits-small")
    path = C.save_compressed(small, tmp_path / "small.lldc").path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "flipped.lldc").write_bytes(bytes(data))
    with pytest.raises(C.CompressedFileError, match="corrupted"):
        C.load_compressed(tmp_path / "flipped.lldc", small)
    (tmp_path / "short.lldc").write_bytes(path.read_bytes()[:100])
    with pytest.raises(C.CompressedFileError, match="corrupted or truncated"):
        C.load_compressed(tmp_path / "short.lldc", small)
    ll.zoo.save(small, tmp_path / "plain.safetensors")
    with pytest.raises(C.CompressedFileError, match="not a LightLab compressed model"):
        C.load_compressed(tmp_path / "plain.safetensors", small)
    with pytest.raises(C.CompressedFileError, match="does not fit"):
        C.load_compressed(path, ll.zoo.mlp(64, 10, (16,)))
    with pytest.raises(FileNotFoundError, match="save_compressed"):
        C.load_compressed(tmp_path / "missing.lldc", small)


def test_bad_configs_say_what_is_allowed():
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
        C.CompressConfig(bits=9)
    with pytest.raises(ValueError, match="unknown coder 'gzip'.*'huffman'"):
        C.CompressConfig(coder="gzip")
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        C.CompressConfig(sparsity={"6": 1.0})
    with pytest.raises(ValueError, match="no Linear/Conv layer named"):
        C.CompressConfig(sparsity={"fc9": 0.5}).layer_settings(ll.zoo.mlp(64, 10))


def test_explorer_reruns_the_pipeline(digits, large):
    explorer = C.CompressExplorer(large, digits, C.CompressConfig(sparsity=LAYERS, bits=4))
    assert explorer.largest == "6" and explorer.sparsity.value == 0.95
    first = explorer.run()
    explorer.bits.value = 2
    assert explorer.result is not first and explorer.config().bits == 2
    assert explorer.result.report.value("coded", "size") < first.report.value("coded", "size")
    explorer.coder.value = "lzma"
    assert "lzma" in next(r["method"] for r in explorer.result.report.rows if r["model"] == "coded")
