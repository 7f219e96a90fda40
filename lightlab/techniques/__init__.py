"""Layer 4, techniques: functions from a model to a smaller or faster model (training, pruning, quantization,
distillation, compression, NAS, adaptive models). One verb and one frozen config per technique.

Imports measurement and below; never the face.
"""
