"""The test and measurement rig: what runs the looper without a stage, and measures it.

jackserver (a private `jackd -d dummy`), harness (a frame-exact JACK client that plays,
records and stomps; its port wiring in ports, what it schedules in timeline), workload
(the one stage workload), bench (with measure, peer and report), soak, demo.

The product never imports this package, except the CLI's `demo` entry, lazily
(tests/unit/test_layout.py checks it).
"""
