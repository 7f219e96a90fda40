"""Wearables (notebook 10): measure models and their int8 copies, and check each against a device's budget.

``survey(models, task, device)`` quantizes every model to int8 (ONNX Runtime static, calibrated on the task's
training inputs), measures all of them at batch 1 with ``ll.measure.measure``, and checks each with
``ll.budget.fits``. Its modelled energy is priced on the device's class (``profile_for``): a microcontroller reads
its weights from flash, a watch or a phone from LPDDR. The bars and the device picker are ``ll.views.budget``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lightlab.data.tasks import Task
from lightlab.measurement import measure
from lightlab.measurement.budget import Device, Fit, fits, lookup
from lightlab.measurement.energy import reprice_
from lightlab.measurement.report import Report
from lightlab.techniques import quantize


def int8_copy(model: nn.Module, task: Task) -> nn.Module:
    """Return ``model`` quantized to ONNX Runtime static int8, calibrated on ``task``'s training inputs."""
    return quantize.quantize(model, quantize.QuantConfig(backend="onnxruntime", mode="static", calibration=task))


def profile_for(device: str | Device) -> str:
    """Return the energy profile of ``device``'s class: "mcu" when it runs its weights from flash, else "phone"."""
    return "phone" if lookup(device).weights_in_ram else "mcu"


@dataclass
class Survey:
    """Each model and its int8 copy, measured (``report``) and checked against a device (``fits``)."""

    report: Report
    fits: list[Fit]
    models: dict[str, nn.Module]  # "NAME" (as given) and "NAME int8" (ONNX Runtime static int8)


def survey(
    models: dict[str, nn.Module], task: Task, device: str | Device, energy: bool = False, profile: str | None = None
) -> Survey:
    """Return a Survey: ``measure`` at batch 1 of every model and its int8 copy, and their Fits on ``device``.

    The modelled energy is priced on ``profile`` (default: ``profile_for(device)``); ``energy=True`` adds
    CodeCarbon's estimate on this machine.
    """
    variants = {}
    for name, model in models.items():
        variants |= {name: model, f"{name} int8": int8_copy(model, task)}
    report = measure.measure(variants, task, batch_sizes=(1,), energy=energy)
    reprice_(report, variants, task.example(1), profile or profile_for(device))
    checks = [fits(m, task.example(1), device, name=n.removesuffix(" int8")) for n, m in variants.items()]
    return Survey(report, checks, variants)
