import pytest
import torch

from lightlab import config


def test_quick_reads_the_environment_each_call(monkeypatch):
    monkeypatch.setenv("LIGHTLAB_QUICK", "1")
    assert config.quick() and config.pick(100, 3) == 3
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    assert not config.quick() and config.pick(100, 3) == 100


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_quick_mode_is_on_for_the_usual_yes_words(monkeypatch, value):
    monkeypatch.setenv("LIGHTLAB_QUICK", value)
    assert config.quick()


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_quick_mode_is_off_for_the_usual_no_words(monkeypatch, value):
    monkeypatch.setenv("LIGHTLAB_QUICK", value)
    assert not config.quick()


@pytest.mark.parametrize("value", ["2", "y", "quick", "0.5"])
def test_quick_mode_refuses_anything_else_and_says_what_works(monkeypatch, value):
    monkeypatch.setenv("LIGHTLAB_QUICK", value)
    with pytest.raises(ValueError, match=f"LIGHTLAB_QUICK='{value}' is neither on nor off.*set it to 1"):
        config.quick()


def test_seed_everything_repeats_random_draws():
    config.seed_everything(7)
    a = torch.rand(3)
    config.seed_everything(7)
    assert torch.equal(a, torch.rand(3))


def test_set_threads_roundtrip():
    before = config.threads()
    try:
        assert config.set_threads(1) == 1
    finally:
        config.set_threads(before)
    assert config.threads() == before


def test_using_threads_restores_the_count_even_after_an_error():
    before = config.threads()
    with config.using_threads(1) as n:
        assert n == 1 and config.threads() == 1
    assert config.threads() == before
    with pytest.raises(RuntimeError, match="boom"), config.using_threads(1):
        raise RuntimeError("boom")
    assert config.threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"), config.using_threads(0):
        pass


def test_epochs_has_one_default_rule(monkeypatch):
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    assert config.epochs(None, 30, 6) == 30 and config.epochs(4, 30, 6) == 4
    monkeypatch.setenv("LIGHTLAB_QUICK", "1")
    assert config.epochs(None, 30, 6) == 6
    with pytest.raises(ValueError, match="at least 1, got 0"):
        config.epochs(0, 30, 6)


def test_return_freed_memory_starts_no_child_process(monkeypatch):
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError("a child forked from a large kernel doubles its memory in the notebook budget test")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    assert config.return_freed_memory.__wrapped__() in (True, False)


def test_an_interrupted_write_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("previous, complete")
    with pytest.raises(KeyboardInterrupt), config.atomic_path(target) as tmp:
        tmp.write_text("half of a new")
        raise KeyboardInterrupt
    assert target.read_text() == "previous, complete" and [p.name for p in tmp_path.iterdir()] == ["report.csv"]
    with config.atomic_path(target) as tmp:
        tmp.write_text("new, complete")
    assert target.read_text() == "new, complete" and [p.name for p in tmp_path.iterdir()] == ["report.csv"]
