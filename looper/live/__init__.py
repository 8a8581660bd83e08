"""On stage: the audio device, the audio process, the supervisor, and what the screen shows."""
