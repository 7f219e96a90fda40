"""Real English text for language models: perplexity on held-out chapters, calibration snippets from train.

Each corpus ships in ``datasets/NAME/`` with a DATASHEET.md and is checked by sha256 before use. Splits are whole
chapters, so no paragraph of ``test`` is ever seen in ``train`` (calibration draws from ``train`` only).
"""

from __future__ import annotations

import json
import random
from itertools import accumulate

from lightlab.data import tasks
from lightlab.data.tasks import DataError

SPLITS = ("train", "val", "test")
FILES = {"python_tutorial": "python_tutorial/tutorial.json"}


def names() -> list[str]:
    """Return the names of the shipped text corpora."""
    return sorted(FILES)


def paragraphs(split: str = "test", name: str = "python_tutorial") -> list[str]:
    """Return the paragraphs of one split of a corpus, in reading order, after checking the file's sha256."""
    if name not in FILES:
        raise DataError(f"unknown text corpus {name!r}; use one of {names()}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for corpus {name!r}; use one of {list(SPLITS)}")
    corpus = json.loads(tasks.verified_path(FILES[name]).read_text(encoding="utf-8"))
    return list(corpus[split])


def _first_words(paras: list[str], max_words: int) -> str:
    """Return ``paras`` joined by blank lines and cut after ``max_words`` words (at a paragraph or word boundary)."""
    kept: list[str] = []
    for para in paras:
        words = para.split()
        if len(words) >= max_words:
            kept.append(" ".join(words[:max_words]))
            break
        kept.append(para)
        max_words -= len(words)
    return "\n\n".join(kept)


def text(split: str = "test", name: str = "python_tutorial", max_words: int | None = None) -> str:
    """Return one split as a single string (paragraphs joined by blank lines), optionally its first max_words words."""
    if max_words is not None and (not isinstance(max_words, int) or max_words < 1):
        raise DataError(f"max_words must be a positive whole number of words or None, got {max_words!r}")
    paras = paragraphs(split, name)
    return "\n\n".join(paras) if max_words is None else _first_words(paras, max_words)


def calibration(n: int, words: int = 64, seed: int = 0, name: str = "python_tutorial") -> list[str]:
    """Return ``n`` seeded snippets of ``words`` words from the train split, each starting at a paragraph."""
    if not isinstance(n, int) or n < 1:
        raise DataError(f"a calibration set must have at least one sample, got n={n!r}")
    if not isinstance(words, int) or words < 1:
        raise DataError(f"each calibration snippet needs at least one word, got words={words!r}")
    paras = paragraphs("train", name)
    left = list(accumulate(len(p.split()) for p in reversed(paras)))[::-1]  # words from paragraph i to the end
    starts = [i for i, count in enumerate(left) if count >= words]  # a snippet never runs off the end
    if n > len(starts):
        raise DataError(
            f"the train split of {name!r} has only {len(starts)} paragraphs that start {words} words of text; "
            f"ask for at most {len(starts)} samples or fewer words each"
        )
    chosen = random.Random(seed).sample(starts, n)
    return [_first_words(paras[i:], words) for i in chosen]
