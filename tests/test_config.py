import pytest
import torch

from lightlab import config


def test_quick_reads_the_environment_each_call(monkeypatch):
    monkeypatch.setenv("LIGHTLAB_QUICK", "1")
    assert config.quick() and config.pick(100, 3) == 3
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    assert not config.quick() and config.pick(100, 3) == 100


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
