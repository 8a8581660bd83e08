"""Sessions: the files and their checks (`store`), what one run does with them (`plan`), and
saving from a running engine (`saver`, which will read the engine through its view)."""
