"""On stage: the device (`device`), the audio process (`audio`), the main process that
supervises it and the MIDI process (`supervisor`), the status data (`status`) and how the
screen shows it (`screen`)."""
