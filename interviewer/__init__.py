"""interviewer: a terminal coach for deep-learning job interviews."""

__version__ = "0.1.0"
