"""The pure engine: numpy and the frame counter only, no I/O, no clock, no threads.

A stomp arrives here as a `Command`; the engine turns it into an `Action` at a frame on
the grid, and renders frames into sound. The live callback and `looper render` both
drive the same `Engine.process`.

The rooms, in the order a command travels:

- commands, bindings: what a pedal asks, and which pedal asks it.
- tracks: `State`, `Action` and the transition table; track: `Track` with its layer tables.
- engine: submit and process; the block cut into segments at every frame where
  something changes; the history write and the click.
- events: what happens at a frame: a command arriving (global ones done there, a
  track's to its table), a history bar beginning (recordings and overdubs take it).
- actions: each Action's code, `ask_*` when its command arrives, `fire_*` at its frame.
- recording: loops taken from the history, overdub passes, the loop memory's limits.
- tempo: taps, tempo changes, the first loop of `bpm: auto`, the count-in.
- playback: a track's loop into the bus, its seam, its gain envelope, its fading tails
  (tail: `Tail`, what a track played before a change); the click sounds.
- master: input hygiene (NaN and Inf silenced) in, master volume and limiter out.
- meters: the input, track and output peaks and the clip count, for the status.
- routing: `tracks.routing`: the inputs a track's loops play, and outputs of its own.
- grid, pages, history: the bar arithmetic, the page pool, the always-on history ring.
- settings: `EngineSettings` (built from a config by config/engine.py); latency and
  loop-memory arithmetic.
- messages: what the engine says, as codes and numbers, and `words` for them.
- view: the read-only `EngineView` the status, the saver and the stems read.
"""
