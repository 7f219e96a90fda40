"""Layer 3, measurement: one way to measure any model (latency, size, MACs, memory, energy), metrics, reports,
device budgets and durable sweeps.

Imports models, data and config; never a technique or the face.
"""
