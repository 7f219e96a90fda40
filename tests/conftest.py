import os

import pytest

# The whole suite runs the short path; the same code as the full run.
os.environ.setdefault("LIGHTLAB_QUICK", "1")


@pytest.fixture(scope="session")
def digits():
    import lightlab as ll

    return ll.load("digits")


@pytest.fixture(scope="session")
def zoo_models():
    import lightlab as ll

    return {"large": ll.zoo.pretrained("digits-large"), "small": ll.zoo.pretrained("digits-small")}
