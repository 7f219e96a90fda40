import dataclasses
import math

import pytest
import torch

import lightlab as ll
from lightlab.techniques import compress as C
from lightlab.techniques.entropy import CompressedFileError

# Han et al. prune the big fully connected layers hardest and the first convolution least.
LAYERS = {"0": 0.5, "2": 0.8, "6": 0.95, "9": 0.7}


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


@pytest.fixture(scope="module")
def pipeline(digits, large, tmp_path_factory):
    path = tmp_path_factory.mktemp("dc") / "digits-large.lldc"
    before = {k: v.clone() for k, v in large.state_dict().items()}
    result = C.compress(large, C.CompressConfig(sparsity=LAYERS, bits=4), task=digits, path=path)
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
    result = C.save_compressed(small, config, path=tmp_path / "small.lldc", task=digits)
    # no fine-tuning: a real but bounded loss (compress() fine-tunes it back)
    assert 80 < result.report.value("coded", "accuracy") < result.report.value("fp32", "accuracy")
    coded = result.model.get_submodule("1").weight
    assert len(coded[coded != 0].unique()) <= 32
    # packed indices: the quantized stage stores ceil(kept * bits / 8) bytes for them
    kept = math.ceil(0.5 * 64 * 32)
    packed = C.save_compressed(small, dataclasses.replace(config, coder="none"), path=tmp_path / "q.lldc").path
    rows = {row["tensor"]: row for row in C.file_contents(packed)}
    assert rows["1.weight"]["bytes"] == 64 * 32 // 8 + 32 * 4 + math.ceil(kept * 5 / 8)


def test_corrupted_or_foreign_files_fail_clearly(tmp_path):
    small = ll.zoo.pretrained("digits-small")
    path = C.save_compressed(small, path=tmp_path / "small.lldc").path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "flipped.lldc").write_bytes(bytes(data))
    with pytest.raises(CompressedFileError, match="corrupted"):
        C.load_compressed(tmp_path / "flipped.lldc", small)
    (tmp_path / "short.lldc").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CompressedFileError, match="corrupted or truncated"):
        C.load_compressed(tmp_path / "short.lldc", small)
    ll.zoo.save(small, tmp_path / "plain.safetensors")
    with pytest.raises(CompressedFileError, match="not a LightLab compressed model"):
        C.load_compressed(tmp_path / "plain.safetensors", small)
    with pytest.raises(CompressedFileError, match="does not fit"):
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
    with pytest.raises(ValueError, match=r"codebook_epochs must be None \(the default\), 0 \(skip\).*got -1"):
        C.CompressConfig(codebook_epochs=-1)


def test_epoch_defaults_are_derived_not_written_back():
    cfg = C.CompressConfig(codebook_epochs=0)
    assert cfg.finetune_epochs is None and cfg.n_epochs("pruned") == 2 and cfg.n_epochs("quantized") == 0
    small = ll.zoo.pretrained("digits-small")
    untouched = C.finetune_codebooks(small, cfg, task=None)  # 0 epochs: a copy, no training (so no task needed)
    assert untouched is not small and all(
        torch.equal(a, b) for a, b in zip(untouched.state_dict().values(), small.state_dict().values(), strict=True)
    )
