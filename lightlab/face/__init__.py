"""Layer 6, the face: what a learner sees and touches (widgets and explorers, plots, the command line, exercise
checkers, the doctor). May import every layer below; nothing imports it.
"""
