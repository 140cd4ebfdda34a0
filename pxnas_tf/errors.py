"""The tool's error base class.

Every error that means bad input or an unmet precondition derives from
`PxnasError`; its message names the input, what was expected and the fix.
The CLI prints such an error as one line and exits with status 2; anything
else is a bug and keeps its traceback. Subclasses also derive from the
builtin type that fits (ValueError, KeyError, RuntimeError), so callers
that catch those keep working.
"""


class PxnasError(Exception):
    """Bad input or an unmet precondition, explained in the message."""
