"""The pure engine: numpy and the frame counter only, no I/O, no clock, no threads.

A stomp arrives here as a `Command`; the engine turns it into an `Action` at a frame on
the grid, and renders frames into sound. The live callback and `looper render` both
drive the same `Engine.process`.
"""
