"""text: the shipped English corpus is sha256-checked, split by chapter, cut and sampled deterministically."""

import json
import shutil

import pytest

import lightlab as ll
from lightlab.data import tasks, text


def test_names_and_splits():
    assert text.names() == ["python_tutorial"]
    assert text.SPLITS == ("train", "val", "test")
    assert ll.text is text


def test_the_file_states_its_source_and_chapters():
    corpus = json.loads(tasks.verified_path("python_tutorial/tutorial.json").read_text(encoding="utf-8"))
    assert corpus["source"] == "python3.11-doc 3.11.2-6+deb12u8"
    assert corpus["chapters"]["test"] == ["controlflow.rst", "classes.rst"]
    chapters = [c for split in text.SPLITS for c in corpus["chapters"][split]]
    assert len(chapters) == len(set(chapters)) == 17  # every tutorial chapter, each in one split


def test_splits_are_disjoint_and_sized_as_the_datasheet_says():
    parts = {split: text.paragraphs(split) for split in text.SPLITS}
    seen = {split: set(paras) for split, paras in parts.items()}
    assert not (seen["test"] & seen["train"] or seen["test"] & seen["val"] or seen["val"] & seen["train"])
    words = {split: sum(len(p.split()) for p in paras) for split, paras in parts.items()}
    assert words == {"train": 13311, "val": 5084, "test": 8406}  # DATASHEET.md
    assert 8000 <= words["test"] <= 15000 and 5000 <= words["val"] <= 10000
    for paras in parts.values():  # one normalised paragraph per entry, no markup left
        assert all(p == " ".join(p.split()) and "``" not in p and ":func:`" not in p for p in paras)


def test_text_joins_paragraphs_and_respects_max_words():
    assert text.text("val") == "\n\n".join(text.paragraphs("val"))
    first = text.paragraphs("test")[0]
    assert text.text(max_words=len(first.split())) == first  # a paragraph boundary
    cut = text.text(max_words=len(first.split()) + 5)
    assert len(cut.split()) == len(first.split()) + 5 and cut.startswith(first + "\n\n")
    assert text.text(max_words=3) == " ".join(first.split()[:3])  # a word boundary
    assert text.text(max_words=10**9) == text.text()
    for bad in (0, -1, 2.5):
        with pytest.raises(tasks.DataError, match="max_words must be a positive"):
            text.text(max_words=bad)


def test_calibration_is_seeded_and_drawn_from_train_only():
    a, b, c = text.calibration(16), text.calibration(16), text.calibration(16, seed=1)
    assert a == b and a != c and len(a) == 16 and len(set(a)) == 16
    assert all(len(s.split()) == 64 for s in a)
    train = text.text("train")
    heldout = set(text.paragraphs("val") + text.paragraphs("test"))
    for snippet in a + text.calibration(8, words=300, seed=2):
        assert " ".join(snippet.split()) in " ".join(train.split())
        assert not any(p in heldout for p in snippet.split("\n\n"))
    assert [len(s.split()) for s in text.calibration(3, words=10)] == [10, 10, 10]


def test_bad_arguments_are_refused_with_the_valid_choices():
    with pytest.raises(tasks.DataError, match="unknown split 'dev'.*'train', 'val', 'test'"):
        text.paragraphs("dev")
    with pytest.raises(tasks.DataError, match="unknown text corpus 'wiki'.*python_tutorial"):
        text.text(name="wiki")
    with pytest.raises(tasks.DataError, match="at least one sample"):
        text.calibration(0)
    with pytest.raises(tasks.DataError, match="at least one word"):
        text.calibration(4, words=0)
    with pytest.raises(tasks.DataError, match="has only .* paragraphs"):
        text.calibration(10_000)


def test_corrupted_or_missing_file_is_refused(tmp_path, monkeypatch):
    shutil.copytree(ll.config.datasets_dir() / "python_tutorial", tmp_path / "python_tutorial")
    path = tmp_path / "python_tutorial" / "tutorial.json"
    path.write_text(path.read_text(encoding="utf-8").replace("Python", "Pyth0n", 1), encoding="utf-8")
    monkeypatch.setenv("LIGHTLAB_DATA", str(tmp_path))
    with pytest.raises(tasks.DataError, match="corrupted.*sha256.*a5209d17"):
        text.paragraphs()
    path.unlink()
    with pytest.raises(tasks.DataError, match="missing.*git checkout"):
        text.calibration(1)
