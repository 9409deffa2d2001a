"""``mmbench.monitor``: drift detection on embeddings and on a classifier's outputs (chapter 7.5.3).

Offline: fit a detector on reference embeddings and test windows against it
(:mod:`.detectors`: MMD, KS per principal component, a classifier two-sample test, BBSD). Online: a
thread-safe :class:`~.online.DriftMonitor` tests rolling windows of a live stream, raises an alert and
says when the drift started. :mod:`.power` measures detection power and false alarms by resampling
windows from pools of embeddings (``mmbench eval drift``).
"""

from .detectors import (ALPHA, DETECTORS, BBSDDetector, ClassifierDetector, Detector, DriftResult, KSDetector,
                        MMDDetector, detect_drift, make_detector)
from .online import DriftMonitor, DriftStart, WindowRecord

__all__ = ["ALPHA", "DETECTORS", "BBSDDetector", "ClassifierDetector", "Detector", "DriftMonitor", "DriftResult",
           "DriftStart", "KSDetector", "MMDDetector", "WindowRecord", "detect_drift", "make_detector"]
