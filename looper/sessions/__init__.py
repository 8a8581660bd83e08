"""Sessions: the files and their checks (`store`), what one run does with them (`plan`), and
saving from a running engine (`saver`, which reads the engine through `core.view`)."""
