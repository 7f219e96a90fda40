"""A real CodeCarbon tracker with a hook, shared by the energy and meter tests."""

import codecarbon


def tracker_class(on_stop):
    """The real CodeCarbon tracker, with a hook run after each stop()."""

    class Tracker(codecarbon.OfflineEmissionsTracker):
        def stop(self):
            out = super().stop()
            on_stop(self)
            return out

    return Tracker
