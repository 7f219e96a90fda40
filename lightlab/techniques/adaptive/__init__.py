"""Models that adapt to the resources at hand, in five short files:

- ``cascade``: a hybrid edge/cloud cascade — a small on-device model answers when it is confident, the rest
  goes over a modelled network (``links``: the presets and their sources) to a large "cloud" model;
- ``slimmable``: one network that runs at several widths, and the accuracy of each;
- ``controller``: picks the width a latency, memory and battery budget allows;
- ``early_exit``: a classifier after each block, so an easy input leaves as soon as one is confident.
"""

from lightlab.techniques.adaptive import cascade, controller, early_exit, links, slimmable

__all__ = ["cascade", "controller", "early_exit", "links", "slimmable"]
