"""Models that adapt to the resources at hand, in four short files:

- ``cascade``: a hybrid edge/cloud cascade — a small on-device model answers when it is confident, the rest
  goes over a modelled network (``links``: the presets and their sources) to a large "cloud" model;
- ``slimmable``: one network that runs at several widths, and the accuracy of each;
- ``controller``: picks the width a latency, memory and battery budget allows.
"""

from lightlab.techniques.adaptive import cascade, controller, links, slimmable

__all__ = ["cascade", "controller", "links", "slimmable"]
