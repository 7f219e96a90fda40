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


# Tasks and models shared by a module's tests and its view's tests, loaded once per run.
@pytest.fixture(scope="session")
def shuttle():
    import lightlab as ll

    return ll.load("shuttle")


@pytest.fixture(scope="session")
def shuttle_forest(shuttle):
    from lightlab.applications import anomaly

    return anomaly.isolation_forest(shuttle, anomaly.ForestConfig(n_estimators=50))


@pytest.fixture(scope="session")
def shuttle_small():
    import lightlab as ll

    return ll.zoo.pretrained("shuttle-small")


@pytest.fixture(scope="session")
def kws():
    import lightlab as ll

    return ll.load("spoken_digits")


@pytest.fixture(scope="session")
def kws_small():
    import lightlab as ll

    return ll.zoo.pretrained("spoken_digits-small")
