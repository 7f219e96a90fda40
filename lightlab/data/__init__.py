"""Layer 1, data: ``Task``, the loaders of ``datasets/``, and the synthetic generators (ECG, lidar world).

Imports only ``lightlab.config``: never a model, a technique, a measurement or the face.
"""
