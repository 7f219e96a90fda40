"""ll.arena: lifetimes and the peak from real graphs, in-place operators, offset planning, execution orders."""

import math
import random

import pytest
import torch
from _faces_cnn import faces_cnn
from torch import nn

import lightlab as ll
from lightlab.measurement import arena, budget

KB = 1024
# The residual block of notebook 24's first exercise, in bytes: x is read by conv1 and by add (the skip).
ORDER = ["x", "conv1", "relu", "conv2", "add", "pool"]
SIZES = {"x": 16, "conv1": 32, "relu": 32, "conv2": 16, "add": 16, "pool": 1}
CONSUMERS = {"x": ["conv1", "add"], "conv1": ["relu"], "relu": ["conv2"], "conv2": ["add"], "add": ["pool"], "pool": []}


class Residual(nn.Module):  # 4 channels widened to 16 and back, plus the input: a skip connection
    def __init__(self):
        super().__init__()
        self.wide, self.narrow = nn.Conv2d(4, 16, 1), nn.Conv2d(16, 4, 1)

    def forward(self, x):
        return x + self.narrow(torch.relu(self.wide(x)))


@pytest.fixture(scope="module")
def cnn_graph():
    return arena.graph(faces_cnn(), torch.randn(1, 1, 25, 25))


def test_a_tensor_lives_until_its_last_consumer():
    g = arena.from_dicts(ORDER, SIZES, CONSUMERS)
    # x stays alive through conv1, relu and conv2 because the add reads it: 16 + 32 + 32 while relu runs.
    assert arena.live_bytes(g) == [16, 48, 80, 64, 48, 17]
    assert arena.peak_bytes(g) == 80 < sum(SIZES.values()) == 113
    assert g.outputs == ("pool",) and g.consumers()["x"] == ("conv1", "add")
    assert arena.peak_step(g) == ("relu", {"conv1": 32, "relu": 32, "x": 16})


def test_the_graph_of_a_real_model_counts_the_skip_as_the_device_budget_does():
    x = torch.rand(1, 4, 8, 8)
    g = arena.graph(Residual().eval(), x)
    assert [s.kind for s in g.steps] == ["input", "conv2d", "relu", "conv2d", "add"]
    # By hand, float32 at 8 x 8: x 1 KB held for the sum, the wide conv's output and the ReLU's 4 KB each.
    assert arena.peak_bytes(g) == (1 + 4 + 4) * KB == budget.activation_bytes(Residual().eval(), x)
    assert arena.peak_bytes(g, itemsize=1) == (1 + 4 + 4) * KB // 4  # int8: one byte per value


def test_in_place_operators_write_over_an_input_that_dies_there():
    g = arena.graph(Residual().eval(), torch.rand(1, 4, 8, 8))
    # The ReLU writes over the wide conv's output; the add over one of its inputs. The peak is then the narrow
    # conv: x (1 KB, still held for the add) + the ReLU's 4 KB + its own 1 KB.
    assert arena.peak_bytes(g, inplace=True) == (1 + 4 + 1) * KB
    found = {b.name: b.tensors for b in arena.buffers(g, inplace=True)}
    # The add wrote over x, the first of its inputs that no later step reads (the model's input lives in the arena).
    assert found == {"x": ("x", "add"), "conv2d": ("conv2d", "relu"), "conv2d_1": ("conv2d_1",)}

    # The skip's input is read again by the add: a ReLU applied to it first must not overwrite it.
    class Reads(nn.Module):
        def forward(self, x):
            y = x * 2
            return torch.relu(y) + y

    kept = arena.graph(Reads(), torch.rand(1, 4, 8, 8))
    found = {b.name: b.tensors for b in arena.buffers(kept, inplace=True)}
    assert found == {"x": ("x", "mul"), "relu": ("relu", "add")}  # the ReLU got a buffer of its own


def test_a_depthwise_convolution_runs_in_place_with_a_one_channel_scratch():
    conv = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8)).eval()
    g = arena.graph(conv, torch.rand(1, 8, 8, 8))
    assert [s.kind for s in g.steps] == ["input", "conv2d", "depthwise_conv2d"]
    assert arena.peak_bytes(g) == 2 * 2 * KB  # input and output of either conv, 8 x 8 x 8 float32 each
    assert arena.peak_bytes(g, inplace=True) == 2 * 2 * KB  # the first conv is not depthwise: still in + out
    scratch = [b for b in arena.buffers(g, inplace=True) if b.name.endswith(".scratch")]
    assert [(b.size, b.first, b.last) for b in scratch] == [(8 * 8 * 4, 2, 2)]
    assert arena.live_bytes(g, inplace=True)[2] == 2 * KB + 256  # its input buffer plus one channel


def test_the_notebook_model_numbers(cnn_graph):
    # Block 1 at 25 x 25: the ReLU6 after the 64-channel expansion, its input and the 16 channels held for the
    # skip: 144 channels x 625 pixels x 4 bytes.
    assert arena.peak_bytes(cnn_graph) == 144 * 625 * 4
    assert arena.peak_step(cnn_graph)[0] == "hardtanh_"
    assert arena.peak_bytes(cnn_graph, inplace=True) == 96 * 625 * 4 < 256 * KB < arena.peak_bytes(cnn_graph)
    assert arena.peak_bytes(cnn_graph, itemsize=1) == 144 * 625
    assert len(arena.orders(cnn_graph)) == 1  # a chain: one order
    table = arena.table(cnn_graph)
    assert table.loc[2, "read by"] == "conv2d_1, add" and table.loc[2, "alive"] == "2–8"
    assert table.loc[5, "operator"] == "depthwise_conv2d" and table.loc[3, "module"] == "1.expand.0"


def _check_plan(g, itemsize=None, inplace=False):
    for method in arena.PLANNERS:
        p = arena.plan(g, itemsize, inplace, method)
        assert p.arena_bytes >= p.peak_bytes == arena.peak_bytes(g, itemsize, inplace)
        assert all(o % 16 == 0 for o in p.offsets.values())
        for i, a in enumerate(p.buffers):  # two buffers alive at the same step never share an address
            for b in p.buffers[i + 1 :]:
                if a.first <= b.last and b.first <= a.last:
                    oa, ob = p.offsets[a.name], p.offsets[b.name]
                    assert oa + a.size <= ob or ob + b.size <= oa, (method, a, b)
        if method == "linear":
            assert p.arena_bytes >= sum(b.size for b in p.buffers)


def test_every_planner_keeps_live_tensors_apart_and_never_beats_the_peak(cnn_graph):
    _check_plan(cnn_graph, 1)
    _check_plan(cnn_graph, 4, inplace=True)
    rng = random.Random(0)
    for _ in range(30):
        n = rng.randint(3, 9)
        order = [f"t{i}" for i in range(n)]
        consumers = {t: [] for t in order}
        for i in range(1, n):
            for j in rng.sample(range(i), k=min(i, rng.randint(1, 2))):
                consumers[order[j]].append(order[i])
        _check_plan(arena.from_dicts(order, {t: rng.randint(1, 100) for t in order}, consumers))


def test_greedy_reaches_the_peak_on_the_model_but_is_a_heuristic(cnn_graph):
    p = arena.plan(cnn_graph, itemsize=1)
    assert p.arena_bytes == p.peak_bytes and p.overhead == 0
    assert arena.plan(cnn_graph, 1, method="first_fit").arena_bytes > 1.15 * p.arena_bytes
    assert arena.plan(cnn_graph, 1, method="linear").arena_bytes >= sum(cnn_graph.sizes(1).values())
    # Four tensors where largest-first leaves a hole: greedy needs 8 bytes for a peak of 7.
    g = arena.from_dicts(["t0", "t1", "t2", "t3"], {"t0": 3, "t1": 3, "t2": 2, "t3": 2},
                         {"t0": ["t1"], "t1": ["t2", "t3"], "t2": [], "t3": []})  # fmt: skip
    assert (arena.plan(g, align=1).arena_bytes, arena.peak_bytes(g)) == (8, 7)


def test_orders_of_a_graph_with_branches_and_the_best_one():
    # x feeds two branches: a (4 bytes, held until cat) and b (16) -> c (4).
    g = arena.from_dicts(["x", "a", "b", "c", "cat"], {"x": 16, "a": 4, "b": 16, "c": 4, "cat": 8},
                         {"x": ["a", "b"], "a": ["cat"], "b": ["c"], "c": ["cat"], "cat": []})  # fmt: skip
    found = arena.orders(g)
    assert found[0] == g.names and len(found) == 3  # a before b, between b and c, or after c
    search = arena.order_search(g)
    assert [p for _, p in search] == sorted(p for _, p in search)
    assert dict(search) == {o: arena.peak_bytes(g.reorder(o)) for o in found}
    with pytest.raises(ValueError, match="more than 2 execution orders"):
        arena.orders(g, limit=2)
    names = [f"t{i}" for i in range(1500)]  # a long chain: one order, found without deep recursion
    readers = {a: [b] for a, b in zip(names[:-1], names[1:], strict=True)} | {names[-1]: []}
    chain = arena.from_dicts(names, dict.fromkeys(names, 1), readers)
    assert arena.orders(chain) == [tuple(names)]


def test_inception_order_search_beats_the_written_order():
    class Inception(nn.Module):
        def __init__(self, c=48):
            super().__init__()
            self.b1 = nn.Conv2d(c, 16, 1)
            self.b2 = nn.Sequential(nn.Conv2d(c, 24, 1), nn.ReLU(), nn.Conv2d(24, 32, 3, padding=1))
            self.b3 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.ReLU(), nn.Conv2d(4, 8, 5, padding=2))
            self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 8, 1))

        def forward(self, x):
            return torch.relu(torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1))

    g = arena.graph(Inception().eval(), torch.randn(1, 48, 28, 28))
    search = arena.order_search(g, itemsize=1)
    # The interleavings of four branches of 1, 3, 3 and 2 steps: 9! / (1! 3! 3! 2!)
    assert len(search) == math.factorial(9) // (6 * 6 * 2) == 5040
    best, peak = search[0]
    assert peak < 0.9 * arena.peak_bytes(g, 1)  # the written order is beaten by more than a tenth
    modules = [s.module for s in g.reorder(best).steps]
    assert modules.index("b2.0") > max(modules.index("b1"), modules.index("b3.0"), modules.index("b4.0"))


def test_bad_graphs_and_arguments_are_named():
    with pytest.raises(ValueError, match="reads \\['b'\\] before any step writes them"):
        arena.from_dicts(["a", "c", "b"], {"a": 1, "b": 1, "c": 1}, {"a": ["b"], "b": ["c"], "c": []})
    g = arena.from_dicts(ORDER, SIZES, CONSUMERS)
    with pytest.raises(ValueError, match="every step exactly once"):
        g.reorder(ORDER[:-1])
    with pytest.raises(ValueError, match="before any step writes"):
        g.reorder(["conv1", "x", "relu", "conv2", "add", "pool"])
    with pytest.raises(ValueError, match="unknown planner 'best'.*greedy, first_fit, linear"):
        arena.plan(g, method="best")
    with pytest.raises(ValueError, match="missing for \\['pool'\\]"):
        arena.from_dicts(ORDER, {k: v for k, v in SIZES.items() if k != "pool"}, CONSUMERS)

    class Branchy(nn.Module):
        def forward(self, x):
            return torch.relu(x) if float(x.sum()) > 0 else x

    with pytest.raises(ValueError, match="torch.export could not trace Branchy"):
        arena.graph(Branchy(), torch.rand(1, 4, 8, 8))


def test_report_rows_are_in_kb_with_their_method(cnn_graph):
    rows = arena.report({"cnn": cnn_graph}, itemsize=1)
    assert rows.value("cnn", "peak_live") == pytest.approx(144 * 625 / KB)
    assert rows.value("cnn", "arena_greedy") == rows.value("cnn", "peak_live")
    assert {r["unit"] for r in rows.rows} == {"KB"} and all("1 byte(s) per value" in r["method"] for r in rows.rows)
    assert arena.describe(cnn_graph).startswith("peak 352 KB while 'hardtanh_' runs: ")
    assert (
        arena.STM32F746.ram == 320 * KB and arena.STM32F746.flash == 1024**2 and not ll.arena.STM32F746.weights_in_ram
    )
