"""Notebook 24's solutions pass their checkers; typical mistakes get the hint that names them."""

import pytest
import torch
from _faces_cnn import faces_cnn
from _solutions import load

import lightlab as ll
from lightlab.measurement import arena
from lightlab.techniques.patches import PatchConfig


@pytest.fixture(scope="module")
def solutions():
    return load("24_microcontroller_memory")


@pytest.fixture(scope="module")
def cnn():
    return faces_cnn()


@pytest.fixture(scope="module")
def frame():
    return ll.photos.to_tensor([ll.photos.centre_crop(ll.photos.image("astronaut"), 96)]).mean(1, keepdim=True)


def test_peak_memory_solution_passes_the_checker(solutions):
    assert ll.checks.peak_memory(solutions.peak_memory) == "correct: peak_memory works"
    # and agrees with the package on the notebook's real graph (bytes at int8)
    g = arena.graph(faces_cnn(), torch.randn(1, 1, 25, 25))
    consumers = {name: list(readers) for name, readers in g.consumers().items()}
    assert solutions.peak_memory(list(g.names), g.sizes(1), consumers) == arena.peak_bytes(g, 1)


def _walk(pick, during):
    """Return a peak_memory freeing each tensor after its ``pick`` (min: first, max: last) consumer; ``during``
    False forgets a step's inputs while the step runs (only what is needed later, and the step's own output)."""

    def peak(order, sizes, consumers):
        where = {n: i for i, n in enumerate(order)}
        end = {t: pick((where[r] for r in rs), default=len(order)) for t, rs in consumers.items()}
        alive, top = set(), 0
        for i, name in enumerate(order):
            alive.add(name)
            top = max(top, sum(sizes[t] for t in alive if during or end[t] > i or t == name))
            alive = {t for t in alive if end[t] > i}
        return top

    return peak


def _inputs_and_output(order, sizes, consumers):
    reads = {n: [t for t, rs in consumers.items() if n in rs] for n in order}
    return max(sizes[n] + sum(sizes[t] for t in reads[n]) for n in order)


def _mutating(order, sizes, consumers):
    consumers["x"].remove("add")
    return 80


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda order, sizes, consumers: sum(sizes.values()), "added up every tensor"),
        (_walk(min, during=True), "LAST consumer, not its first"),
        (_inputs_and_output, "LAST consumer, not its first"),
        (_walk(max, during=False), "inputs are still in memory"),
        (lambda order, sizes, consumers: max(sizes.values()), "not only the largest"),
        (lambda order, sizes, consumers: None, "must `return`"),
        (lambda order, sizes, consumers: 80, "any graph"),
        (_mutating, "do not modify them"),
    ],
)
def test_wrong_peaks_get_a_hint(wrong, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.peak_memory(wrong)


def test_an_unsolved_exercise_is_a_short_not_yet():
    def stub(order, sizes, consumers):
        raise NotImplementedError("write peak_memory() first")

    with pytest.raises(ll.checks.CheckFailed, match="Fill in the function"):
        ll.checks.peak_memory(stub)


def test_receptive_rows_solution_and_its_mistakes(solutions):
    assert ll.checks.receptive_rows(solutions.receptive_rows) == "correct: receptive_rows works"
    assert ll.checks.receptive_rows(ll.patches.receptive_rows).startswith("correct")

    def forward(layers, rows):
        for k, s in layers:
            rows = (rows - 1) * s + k
        return rows

    def times(layers, rows):
        for k, s in reversed(layers):
            rows = rows * s + k - 1
        return rows

    for wrong, hint in [
        (forward, "first to last"),
        (lambda layers, rows: rows + sum(k - 1 for k, _ in layers), "multiplies the rows by its stride"),
        (times, "not rows \\* stride"),
        (lambda layers, rows: solutions.receptive_rows(layers, rows) + 1, "from the last layer back"),
    ]:
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.receptive_rows(wrong)


def test_the_prediction_explains_the_skip_connection(cnn):
    g = arena.graph(cnn, torch.randn(1, 1, 25, 25))
    said = ll.checks.peak_prediction(350, g)
    assert said.startswith("your guess 350 KB, measured 352 KB: close")
    assert "relu_ (39.1 KB, read later by add)" in said and "1482 KB" in said
    assert "too low" in ll.checks.peak_prediction(40, g) and "too high" in ll.checks.peak_prediction(1482, g)
    assert ll.checks.peak_prediction(None, g).startswith("no prediction written: measured 352 KB")
    with pytest.raises(ll.checks.CheckFailed, match="must be a number in KB"):
        ll.checks.peak_prediction("350 KB", g)


def test_the_patch_target_is_reachable_and_misses_are_explained(solutions, cnn, frame):
    said = ll.checks.patch_target(solutions.fit_the_frame(cnn), cnn, frame)
    assert said.startswith("correct: peak SRAM 203 KB fits MCU (nRF52840)") and "20 % more multiply-adds" in said
    with pytest.raises(ll.checks.CheckFailed, match="larger grid"):
        ll.checks.patch_target(ll.patches.patch_based(cnn, PatchConfig(stage=4, grid=2)), cnn, frame)
    with pytest.raises(ll.checks.CheckFailed, match="after the stage.*larger PatchConfig.stage"):
        ll.checks.patch_target(ll.patches.patch_based(cnn, PatchConfig(stage=3, grid=4)), cnn, frame)
    with pytest.raises(ll.checks.CheckFailed, match="expected a model from ll.patches.patch_based"):
        ll.checks.patch_target(cnn, cnn, frame)
    with pytest.raises(ll.checks.CheckFailed, match="patch the same model"):
        ll.checks.patch_target(solutions.fit_the_frame(faces_cnn(seed=1)), cnn, frame)


def test_greedy_is_not_optimal_solution(solutions):
    g = arena.from_dicts(*solutions.greedy_is_not_optimal())
    assert arena.plan(g, align=1).arena_bytes > arena.peak_bytes(g)
