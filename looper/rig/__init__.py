"""The test and measurement rig: JACK server, harness, workload, demo, soak, bench.

The product never imports this package, except the CLI's `demo` entry, lazily.
"""
