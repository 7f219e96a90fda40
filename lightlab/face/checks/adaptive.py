"""Checkers for notebook 23 (adaptive models): a learner's controller over a fixed, hand-made profile table, the
early-exit rule on fixed logits, and the "predict, then run" comparison of a guess with the measured exit share."""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import prediction as _prediction
from lightlab.measurement.report import Report

# Four operating points of one slimmable network. w=0.75 is a little MORE accurate than w=1 (it happens after
# training: the widest width is not always the best), so "most accurate" and "widest" differ.
TABLE = [
    {"width": 0.25, "accuracy": 95.0, "latency_ms": 0.10, "memory_kb": 300},
    {"width": 0.5, "accuracy": 97.0, "latency_ms": 0.20, "memory_kb": 1200},
    {"width": 0.75, "accuracy": 98.3, "latency_ms": 0.30, "memory_kb": 2600},
    {"width": 1.0, "accuracy": 98.1, "latency_ms": 0.40, "memory_kb": 4600},
]
# (latency budget in ms, memory budget in kB): each case tells one typical mistake apart
CASES = [(1.0, 5000), (0.35, 2000), (0.25, 5000), (0.2, 5000), (1.0, 1000), (0.05, 5000)]


def _reference(
    latency_ms: float, memory_kb: float, fits=None, best=max, key="accuracy", fallback: bool = False
) -> float | None:
    """Return the width picked by a rule: ``fits`` says which points qualify, ``best``/``key`` which one wins."""
    fits = fits or (lambda p: p["latency_ms"] <= latency_ms and p["memory_kb"] <= memory_kb)
    ok = [p for p in TABLE if fits(p)]
    if not ok:
        return min(TABLE, key=lambda p: p["latency_ms"])["width"] if fallback else None
    return best(ok, key=lambda p: p[key])["width"]


def pick_width(fn: Callable[[list[dict], float, float], float | None]) -> str:
    """Check ``fn(table, latency_ms, memory_kb)`` returns the most accurate width that fits both budgets, else None."""
    expected = [_reference(lat, mem) for lat, mem in CASES]
    got = [fn([dict(p) for p in TABLE], lat, mem) for lat, mem in CASES]
    if got == expected:
        return "correct: pick_width works"
    mistakes = {
        "you return the FASTEST width that fits; the controller should return the MOST ACCURATE one that fits "
        "(max over the fitting points by 'accuracy')": lambda lat, mem: _reference(
            lat, mem, best=min, key="latency_ms"
        ),
        "you return the WIDEST width that fits; the widest is not always the most accurate (here w=0.75 beats "
        "w=1): take the max by 'accuracy'": lambda lat, mem: _reference(lat, mem, key="width"),
        "you ignore the memory budget: a point fits only if latency_ms <= the latency budget AND memory_kb <= the "
        "memory budget": lambda lat, mem: _reference(lat, mem, fits=lambda p: p["latency_ms"] <= lat),
        "you ignore the latency budget: a point fits only if latency_ms <= the latency budget AND memory_kb <= "
        "the memory budget": lambda lat, mem: _reference(lat, mem, fits=lambda p: p["memory_kb"] <= mem),
        "a point whose cost EQUALS the budget fits it: compare with <=, not <": lambda lat, mem: _reference(
            lat, mem, fits=lambda p: p["latency_ms"] < lat and p["memory_kb"] < mem
        ),
        "when no width fits, return None (the caller must know the budget is impossible) rather than the "
        "fastest width": lambda lat, mem: _reference(lat, mem, fallback=True),
    }
    for hint, rule in mistakes.items():
        if got == [rule(lat, mem) for lat, mem in CASES]:
            _fail("pick_width over the 6 budgets " + str(CASES), got, expected, hint)
    i = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
    _fail(
        f"pick_width(table, latency_ms={CASES[i][0]}, memory_kb={CASES[i][1]})",
        got[i],
        expected[i],
        "keep the points with latency_ms <= latency budget and memory_kb <= memory budget; return the 'width' of "
        "the most accurate of them, or None when none is left",
    )


# Logits of 3 exits for 5 inputs over 4 classes, threshold 0.5. Softmax gives round numbers: [3, 0, 0, 0] -> 0.87,
# [0, 0, 0, 0] -> 0.25 (its largest LOGIT, 0.6 in the second input, is above the threshold), and [0, 0, -100, -100]
# -> exactly 0.5 (confident with >=, not with >).
_SURE, _FLAT, _HALF, _LOGIT = [3.0, 0, 0, 0], [0.0, 0, 0, 0], [0.0, 0, -100, -100], [0.6, 0.6, 0.6, 0.6]
EXIT_LOGITS = torch.tensor(
    [
        [_SURE, _LOGIT, _HALF, _FLAT, _FLAT],  # exit 0
        [_SURE, _SURE, _FLAT, _FLAT, _SURE],  # exit 1
        [_SURE, _SURE, _FLAT, _FLAT, _FLAT],  # exit 2
    ]
)
EXIT_THRESHOLD = 0.5


def _rule(logits: torch.Tensor, confident, pick: str = "first", fallback: int | None = -1) -> list:
    """Return the exit per input under a rule (the right one or a typical slip), as a list of ints."""
    sure = confident(logits)  # [exits, inputs]
    out = []
    for i in range(logits.shape[1]):
        hits = [k for k in range(logits.shape[0]) if sure[k, i]]
        if hits:
            out.append(hits[0] if pick == "first" else hits[-1])
        else:
            out.append(logits.shape[0] - 1 if fallback == -1 else fallback)
    return out


def _probs_ge(logits: torch.Tensor) -> torch.Tensor:
    return logits.softmax(-1).amax(-1) >= EXIT_THRESHOLD


def exit_index(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """Check ``fn(logits, threshold)`` returns per input the first exit whose top softmax probability >= threshold."""
    call = f"exit_index(EXIT_LOGITS, {EXIT_THRESHOLD})"
    logits = EXIT_LOGITS.clone()
    got = fn(logits, EXIT_THRESHOLD)
    expected = _rule(EXIT_LOGITS, _probs_ge)
    if got is None:
        _fail(call, got, expected, "your function must `return` one exit index per input")
    try:
        got = [int(v) for v in torch.as_tensor(got).flatten().tolist()]
    except (TypeError, ValueError):
        _fail(call, got, expected, "return a tensor (or list) of integers: the exit each input leaves at")
    if not torch.equal(logits, EXIT_LOGITS):
        _fail(f"EXIT_LOGITS after {call}", "changed", "unchanged", "compute new tensors; do not modify the logits")
    if got == expected:
        return "correct: exit_index works"
    mistakes = {
        "you take the LAST confident exit; an input leaves at the FIRST exit that is confident enough (it never "
        "runs the blocks after it)": _rule(EXIT_LOGITS, _probs_ge, pick="last"),
        "every input goes to the last exit: compare each exit's confidence with the threshold and stop at the first "
        "one that reaches it": [EXIT_LOGITS.shape[0] - 1] * EXIT_LOGITS.shape[1],
        "you compare the LOGITS with the threshold; the threshold is a probability: take softmax over the classes "
        "(the last dimension), then its largest value": _rule(EXIT_LOGITS, lambda x: x.amax(-1) >= EXIT_THRESHOLD),
        "an exit whose largest probability EQUALS the threshold is confident: compare with >=, not >": _rule(
            EXIT_LOGITS, lambda x: x.softmax(-1).amax(-1) > EXIT_THRESHOLD
        ),
        "when no exit is confident the input runs to the LAST exit (it always answers); argmax over all-False "
        "gives 0": _rule(EXIT_LOGITS, _probs_ge, fallback=0),
        "exits are numbered from 0 (exit 0 is the first)": [k + 1 for k in expected],
        "take softmax over the classes, the last dimension (dim=-1), not over the inputs or the exits": [
            _rule(EXIT_LOGITS, lambda x, dim=dim: x.softmax(dim).amax(-1) >= EXIT_THRESHOLD) for dim in (0, 1)
        ],
    }
    for hint, wrong in mistakes.items():
        if got in (wrong if isinstance(wrong[0], list) else [wrong]):  # one slip can give several outputs
            _fail(call, got, expected, hint)
    _fail(
        call,
        got,
        expected,
        "per input: p = softmax(logits of each exit over the classes); confident = p.max >= threshold; "
        "return the index of the first confident exit, or the last exit if none is",
    )


def first_exit_prediction(guess: float | None, report: Report, threshold: float = 0.9) -> str:
    """Return how a guessed share (%) of inputs leaving at exit 0 at ``threshold`` compares with the measured one."""
    point = f"t={threshold:g}"
    measured = report.value(point, "exit 0 share")
    deeper = ", ".join(
        f"{report.value(point, m):.0f} % at {m.removesuffix(' share')}"
        for m in dict.fromkeys(r["metric"] for r in report.rows)
        if m.startswith("exit ") and m != "exit 0 share"
    )
    why = (
        f"At threshold {threshold:g}, {measured:.0f} % of the test inputs left after one convolution; the others "
        f"went deeper ({deeper}). An exit that has seen little of the image is {100 * threshold:g} % sure only if "
        "training made it so: after a short training it hedges, after a long one most digits are easy and leave "
        "early. Sure is not right: compare the thresholds' accuracy too, not only where the inputs leave."
    )
    return _prediction(guess, measured, f"the share leaving at exit 0 at threshold {threshold:g}", "%", why)
