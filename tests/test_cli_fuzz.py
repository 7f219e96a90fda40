"""Fuzzing the command line: whatever the arguments, the user sees a one-line error or usage, never a traceback.

Each generated command line holds at least one bad value, so that it must be refused during validation, before
any long work: a run that started working on a bad value would show up as a slow example.
"""

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from lightlab.face import cli

# Values each flag must refuse; every generated command line holds at least one.
BAD = {
    "--task": ["", "imagenet", "☃"],
    "--models": ["", "digits-huge", "x,,y"],
    "--model": ["nowhere.onnx", "", "no_module:build", "huge"],
    "--data": ["nowhere.npz", "/dev/null"],
    "--input-shape": ["0", "x,y", "-3", ""],
    "--out": ["/dev/null/x"],  # under a file: no folder can be made there, not even by root
    "--to": ["smaller", ""],
    "--sparsity": ["0", "1", "nan", "-3", "x"],
    "--seeds": ["0", "-3", "x"],
    "--epochs": ["0", "-1", "x"],
}
GOOD = {
    "bench": {"--task": ["digits"], "--models": ["large,small"], "--input-shape": ["1,8,8"]},
    "optimize": {"--to": ["int8"], "--sparsity": ["0.5"], "--epochs": ["1"], "--input-shape": ["1,8,8"]},
    "train": {"--task": ["digits"], "--model": ["small"]},
    "sweep": {"--task": ["digits"], "--model": ["small"], "--seeds": ["2"], "--epochs": ["1"]},
}
MUST_BE_BAD = {  # the flags whose value may be the bad one
    "bench": ["--task", "--models", "--model", "--data", "--input-shape", "--out"],
    "optimize": ["--model", "--to", "--data", "--sparsity", "--epochs", "--out"],
    "train": ["--task", "--model", "--out"],
    "sweep": ["--task", "--model", "--seeds", "--epochs", "--out"],
}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(MUST_BE_BAD)))
    bad_flag = draw(st.sampled_from(MUST_BE_BAD[command]))
    argv = [command, bad_flag, draw(st.sampled_from(BAD[bad_flag]))]
    for flag, values in GOOD[command].items():
        if flag != bad_flag and draw(st.booleans()):
            argv += [flag, draw(st.sampled_from(values + BAD.get(flag, [])))]
    if command == "optimize" and bad_flag != "--model":
        argv += ["--model", draw(st.sampled_from(["nowhere.onnx", "scripted.pt"]))]
    if command == "optimize" and bad_flag != "--to":
        argv += ["--to", draw(st.sampled_from(["int8", "pruned"]))]
    if command in ("bench", "optimize"):
        argv.append("--no-energy")
    return argv


@settings(max_examples=80, deadline=None, derandomize=True)
@given(command_lines())
def test_a_bad_command_line_never_shows_a_traceback(argv):
    start = time.perf_counter()
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse: usage and a one-line message, exit status 2
        code = exit_.code
    assert code not in (0, None), f"{argv} succeeded with a bad value"
    assert time.perf_counter() - start < 20, f"{argv} worked for a long time before refusing a bad value"
