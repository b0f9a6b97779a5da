"""The one exception type the CLI turns into ``chori: error: <message>`` and exit status 2.

Anything else that escapes is a bug and keeps its traceback.
"""


class ChoriError(Exception):
    """A problem the user can fix: a bad flag, a file that does not fit, a failed check."""


def first_line(error: BaseException) -> str:
    """The gist of a library exception whose full text (C++ frames, hints) would bury ours."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
