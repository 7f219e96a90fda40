import pytest

import lightlab as ll

LAYERS = {"0": 0.5, "2": 0.8, "6": 0.95, "9": 0.7}


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


def test_explorer_reruns_the_pipeline(digits, large):
    explorer = ll.views.compress.CompressExplorer(large, digits, ll.compress.CompressConfig(sparsity=LAYERS, bits=4))
    assert explorer.largest == "6" and explorer.sparsity.value == 0.95
    first = explorer.run()
    explorer.bits.value = 2
    assert explorer.result is not first and explorer.config().bits == 2
    assert explorer.result.report.value("coded", "size") < first.report.value("coded", "size")
    explorer.coder.value = "lzma"
    assert "lzma" in next(r["method"] for r in explorer.result.report.rows if r["model"] == "coded")
    fig = ll.views.compress.plot_stages(first.report)
    assert list(fig.data[0].x) == list(ll.compress.STAGES) and fig.data[0].text[0] == "1.0x"
    assert fig.data[1].name == "accuracy (%)" and fig.layout.yaxis.type == "log"
