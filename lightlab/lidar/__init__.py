"""A synthetic 2-D laser scanner on a small mobile robot, and what a late answer costs in closed loop.

Three short files, read in this order:
- ``world``: generated rooms, the scanner and its faults, the action rule, the ``lidar`` Task (all SYNTHETIC);
- ``drive``: the closed-loop simulation (scan period, measured latency, dropped frames) and its reports;
- ``explore``: plotly pictures and the two explorers used in notebook 11.
Everything a notebook needs is importable from here: ``from lightlab import lidar; lidar.drive(...)``.
"""

from lightlab.lidar.drive import (
    DEVICES,
    Drive,
    DriveConfig,
    compare_drives,
    deadline_report,
    drive,
    latency_samples,
    model_policy,
    speed_sweep,
    time_models,
)
from lightlab.lidar.explore import DeadlineExplorer, DriveExplorer, plot_drives, plot_scan, plot_sweep
from lightlab.lidar.world import (
    ANGLES,
    BEAMS,
    CLASSES,
    PERFECT,
    RANGE_MAX,
    SENSOR,
    Scans,
    Sensor,
    World,
    generate,
    held_out_world,
    label,
    lane_clearance,
    load,
    make_world,
    to_input,
)

__all__ = [
    "ANGLES",
    "BEAMS",
    "CLASSES",
    "DEVICES",
    "PERFECT",
    "RANGE_MAX",
    "SENSOR",
    "DeadlineExplorer",
    "Drive",
    "DriveConfig",
    "DriveExplorer",
    "Scans",
    "Sensor",
    "World",
    "compare_drives",
    "deadline_report",
    "drive",
    "generate",
    "label",
    "lane_clearance",
    "latency_samples",
    "load",
    "make_world",
    "model_policy",
    "held_out_world",
    "plot_drives",
    "plot_scan",
    "plot_sweep",
    "speed_sweep",
    "time_models",
    "to_input",
]
