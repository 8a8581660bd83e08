"""The pedals: MIDI messages become gestures (press, release, hold, double), then Commands."""
