"""The pedals: MIDI messages become gestures (press, release, hold, double), then Commands.

The modules, in the order a stomp travels through them, then the way back:

- `backend`: python-rtmidi, the one module that touches a MIDI system;
- `ports`: which port to open, decided from port names alone (pure);
- `keepers`: the ports kept open across a pulled cable, and what the performer is told;
- `gestures`: raw messages -> gestures -> commands (pure; time is injected);
- `process`: the MIDI process: the polling loop, the clock, `(command, stamp)` out;
- `lights`: what the pedal lights show for a status, and the messages that set them (pure).
"""
