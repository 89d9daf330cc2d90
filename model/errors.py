"""One exception type for everything a user can get wrong."""


class InputError(ValueError):
    """Bad user input: a scenario, an override, a targets file, a sweep spec, a CLI argument.

    The message names the file (when there is one), the key, the value and what is allowed, so
    the CLI can print it as is and exit with code 2.
    """
