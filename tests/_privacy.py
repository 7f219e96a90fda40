"""What a written artifact must never carry: the paths of the machine that made it, and its user's name."""

import getpass
import os
import sys
from pathlib import Path

import lightlab as ll


def local_paths() -> list[str]:
    """Return this machine's home, working folder, Python prefix, LightLab checkout and user folder."""
    user = f"/{getpass.getuser()}/"  # as a path component: the bare name may be a word ("root" is in plotly.js)
    found = {str(Path.home()), os.getcwd(), sys.prefix, str(ll.config.ROOT), "site-packages", user}
    return sorted(p for p in found if len(p) >= 3 and p != "/")
