from math import prod

import pytest
from _solutions import load as solutions

import lightlab as ll
from lightlab.face.checks import wearables
from lightlab.measurement import budget


def test_peak_activation_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("10_wearables")
    assert wearables.peak_activation_bytes(sol.peak_activation_bytes).startswith("correct")

    def sizes(shapes):
        return [prod(s) for s in shapes]

    mistakes = {
        "added up every tensor": lambda shapes, b: sum(sizes(shapes)) * b,
        "largest tensor alone": lambda shapes, b: max(sizes(shapes)) * b,
        "bytes_per_value": lambda shapes, b: sol.peak_activation_bytes(shapes, 1),
        "not bits": lambda shapes, b: sol.peak_activation_bytes(shapes, 8 * b),
        "first layer only": lambda shapes, b: (prod(shapes[0]) + prod(shapes[1])) * b,
        "include the pair": lambda shapes, b: sol.peak_activation_bytes(shapes[1:], b),
        "must `return`": lambda shapes, b: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            wearables.peak_activation_bytes(wrong)


def test_the_solution_agrees_with_budget_on_a_real_model():
    sol = solutions("10_wearables")
    # digits-small: Flatten (a view, no copy), Linear (64 -> 32), ReLU, Linear (32 -> 10): the first Linear's pair.
    model, x = ll.zoo.pretrained("digits-small"), ll.load("digits").example(1)
    shapes = [(64,), (32,), (32,), (10,)]
    assert sol.peak_activation_bytes(shapes, 4) == budget.activation_bytes(model, x) == 384


def test_exercise_3_target_is_reachable():
    sol = solutions("10_wearables")
    kws = ll.load("spoken_digits")
    int8, fit = sol.earbud_spotter(kws)
    assert fit.ok, fit.message
    assert fit.precision == "int8" and fit.flash_used <= 16 * 1024 and fit.ram_used <= 4 * 1024
    assert ll.train.evaluate(int8, kws) >= 0.93


def test_exercise_4_battery_share():
    sol = solutions("10_wearables")
    assert sol.BATTERY_J == pytest.approx(4104)
    # 1 mJ per inference, twice a second for a day: 172.8 J, 4.2 % of the battery
    assert sol.battery_share_per_day(1e-3) == pytest.approx(172.8 / 4104)
