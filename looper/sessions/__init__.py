"""Sessions on disk: the saver (reading the engine through its view) and the store."""
