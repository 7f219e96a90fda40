"""``lightlab bench --models smollm2-135m,smollm2-135m-int4``: a language model and its quantized variants."""

from __future__ import annotations

import argparse

LANGUAGE_MODELS = ("smollm2-135m",)
TEXT_METRICS = ["file_size", "perplexity", "decode_tokens_per_s", "time_to_first_token", "energy_per_token"]


def bench(names: list[str], args: argparse.Namespace):
    """Measure a language model and its quantized variants ("smollm2-135m-int4"): a Report and its figures."""
    from lightlab import config
    from lightlab.face import plots
    from lightlab.measurement import generation
    from lightlab.models import packaged
    from lightlab.techniques import lmquant

    args.task = "text"
    base_name = LANGUAGE_MODELS[0]
    presets = [n[len(base_name) + 1 :] if n != base_name else None for n in names]
    unknown = [n for n, p in zip(names, presets, strict=True) if not n.startswith(base_name) or p == ""]
    bad = [p for p in presets if p is not None and p not in lmquant.PRESETS]
    if unknown or bad:
        raise ValueError(
            f"unknown language model {(unknown or bad)[0]!r}; use {base_name} or {base_name}-PRESET with PRESET one "
            f"of {', '.join(lmquant.PRESETS)}"
        )
    base = packaged.load(base_name)
    tok = packaged.tokenizer(base_name)
    calibration = packaged.calibration_ids(tok, samples=8)
    models = {
        n: base if p is None else lmquant.from_preset(base, p, calibration) for n, p in zip(names, presets, strict=True)
    }
    msgs = [{"role": "user", "content": "What is a Python list, in two sentences?"}]
    prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    text = packaged.text_ids(tok, "test", tokens=config.pick(384, 128))
    new_tokens = config.pick(32, 12)
    report = generation.measure_lm(models, prompt, text, new_tokens=new_tokens, energy=not args.no_energy)
    return report, [plots.report_bars(report, TEXT_METRICS), plots.tradeoff(report, "file_size", "perplexity")]
