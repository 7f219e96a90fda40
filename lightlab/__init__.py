"""LightLab: teach and measure lightweight AI. Start with ``import lightlab as ll; ll.doctor()``."""

__version__ = "0.1.0"

from lightlab import checks, config, data, energy, measure, plots, train, widgets, zoo  # noqa: E402
from lightlab.data import Task, load  # noqa: E402
from lightlab.report import Report  # noqa: E402
from lightlab.selfcheck import doctor  # noqa: E402

__all__ = ["Report", "Task", "checks", "config", "data", "doctor", "energy", "load", "measure", "plots",
           "train", "widgets", "zoo", "__version__"]
