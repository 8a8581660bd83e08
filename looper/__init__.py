"""looper: a live audio looper for the stage, played with the feet."""

__version__ = "0.1.0"
