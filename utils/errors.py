"""The one exception type for problems a user caused (bad file, bad argument, bad config).

Command-line tools catch it and print its message as one line; anything else is a bug.
"""


class DelimitError(Exception):
    """A problem with the user's input: the message names the file or key and the reason."""
