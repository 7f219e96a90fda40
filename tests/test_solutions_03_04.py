import pytest
import torch.nn.functional as F
from _solutions import load as solutions

import lightlab as ll


@pytest.fixture(scope="module")
def teacher():
    return ll.zoo.pretrained("digits-large")


def test_kd_loss_solution_passes_and_mistakes_get_a_hint():
    assert ll.checks.kd_loss(solutions("03_distillation").kd_loss).startswith("correct")
    assert ll.checks.kd_loss(ll.distill.kd_loss).startswith("correct")

    def kl(s, t, temperature, reverse=False):
        a, b = F.log_softmax(s / temperature, 1), F.log_softmax(t / temperature, 1)
        return (
            F.kl_div(b, a, reduction="batchmean", log_target=True)
            if reverse
            else F.kl_div(a, b, reduction="batchmean", log_target=True)
        )

    mistakes = {
        "T\\^2": lambda s, t, y, T, a: a * kl(s, t, T) + (1 - a) * F.cross_entropy(s, y),
        "KL direction is swapped": lambda s, t, y, T, a: (
            a * T * T * kl(s, t, T, reverse=True) + (1 - a) * F.cross_entropy(s, y)
        ),
        "swapped them": lambda s, t, y, T, a: (1 - a) * T * T * kl(s, t, T) + a * F.cross_entropy(s, y),
        "must `return`": lambda s, t, y, T, a: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.kd_loss(wrong)


def test_exercise_4_target_is_reachable(digits, teacher):
    sol = solutions("03_distillation")
    report = sol.exercise_4(digits, teacher)
    assert report.ratio("params", "teacher", "student") >= 200
    kd = report.value("student, KD", "accuracy, 10% labels")
    assert kd >= 0.97 * report.value("teacher", "accuracy, 10% labels")
    assert report.value("student, KD", "KD gain, 10% labels") >= 0.5


def test_compression_solutions_pass_the_checkers():
    sol = solutions("04_deep_compression")
    assert ll.checks.huffman_code_lengths(sol.huffman_code_lengths).startswith("correct")
    assert ll.checks.huffman_code_lengths(ll.entropy.huffman_code_lengths).startswith("correct")
    assert ll.checks.shared_weight_bits(sol.shared_weight_bits).startswith("correct")
    with pytest.raises(ll.checks.CheckFailed, match="one too many"):
        ll.checks.huffman_code_lengths(lambda c: {s: n + 1 for s, n in sol.huffman_code_lengths(c).items()})
    with pytest.raises(ll.checks.CheckFailed, match="Kraft"):
        ll.checks.huffman_code_lengths(lambda c: dict.fromkeys(c, 1))
    with pytest.raises(ll.checks.CheckFailed, match="not optimal"):
        ll.checks.huffman_code_lengths(lambda c: dict.fromkeys(c, 3))
    with pytest.raises(ll.checks.CheckFailed, match="codebook is stored too"):
        ll.checks.shared_weight_bits(lambda kept, bits: kept * bits)


def test_exercise_3_target_is_reachable(digits, teacher, tmp_path):
    sol = solutions("04_deep_compression")
    result = sol.exercise_3(digits, teacher, tmp_path)
    assert result.ratio >= 75
    assert result.report.value("coded", "accuracy") >= result.report.value("fp32", "accuracy") - 1
    # exercise 2: the predicted bytes of layer 6 in the quantized (uncoded) file; the file's codebook keeps only
    # the values in use, so it may be a few entries shorter than 2**bits
    packed = ll.compress.save_compressed(
        result.model,
        ll.compress.CompressConfig(sparsity=sol.TARGET.sparsity, coder="none"),
        path=tmp_path / "packed.lldc",
    )
    actual = next(r["bytes"] for r in ll.compress.file_contents(packed.path) if r["tensor"] == "6.weight")
    assert 0 <= sol.layer_6_prediction(result.model) - actual <= 16 * 4
