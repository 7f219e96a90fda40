"""Layer 2, models: the zoo (architectures and sha256-checked pretrained weights) and efficient building blocks.

Imports data and config only.
"""
