"""Models that adapt to the resources at hand, in two short files:

- ``cascade``: a hybrid edge/cloud cascade — a small on-device model answers when it is confident, the rest
  goes over a modelled network to a large "cloud" model;
- ``slimmable``: one network that runs at several widths, and a controller that picks the width from a budget.
"""

from lightlab.adaptive import cascade, slimmable

__all__ = ["cascade", "slimmable"]
