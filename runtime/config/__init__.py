"""Container configuration: the key table, the parser, the writer and the typed model.

- `keys`: every LXC 5 key, its kind (scalar or list) and its value checker;
- `values`: the checkers;
- `parser`: files to `RawConfig` (text values, validated, includes resolved);
- `writer`: `key = value` text, and in-place edits of a container's config file;
- `model`: the typed attrs model (`ContainerConfig`) for the runtime;
- `plain`: the model as plain JSON data and back (the spawn message; no cattrs).

This file imports nothing: `parser`, `keys`, `values` and `writer` are standard
library only, for the client commands' start-up path, while `model` needs attrs,
which only the runtime should pay for.
"""
