"""Offline tools around the engine: render, calibrate, learn."""
