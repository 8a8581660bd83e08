"""The YAML config, validated once at the edge into frozen, typed objects.

A performer edits `configs/pedalboard.yaml` minutes before a show, so a mistake
must come back as one line per problem (file, line, key path, what was found,
what is allowed), all of them at once, never as a traceback. Past this package
nothing checks the config again.

Validation runs in three passes, one module each:

1. `lines`: YAML -> plain data, remembering the line of every key and list item
   and refusing duplicate keys (PyYAML would silently keep the last one); the
   problem shape (`Problem`, `ConfigError`) lives here too.
2. `schema`: each section and each pedal is validated on its own by a pydantic
   model, so a mistake in one does not hide the mistakes in the others; the
   check of each value and its "found X; allowed: Y" words are in `checks`.
3. `rules`: rules that span keys or sections (one message per binding, tracks
   within `tracks.count`, the arguments each action takes) run on what passed 2.

`load` runs them (`parse_config`, `load_config`); `edit` changes a config file's
text in place for `looper learn` and `looper calibrate`.

The names below are the package's API, and what the rest of the looper imports,
so that a change in how the modules split the work is no change for them.
"""

from looper.config.lines import ConfigError, Problem
from looper.config.load import load_config, parse_config
from looper.config.schema import (
    Audio,
    Clicktrack,
    Config,
    Feedback,
    Master,
    Midi,
    Pedal,
    Tracks,
)

__all__ = [
    "Audio",
    "Clicktrack",
    "Config",
    "ConfigError",
    "Feedback",
    "Master",
    "Midi",
    "Pedal",
    "Problem",
    "Tracks",
    "load_config",
    "parse_config",
]
