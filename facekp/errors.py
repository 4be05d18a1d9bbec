"""One error type for bad input: the CLIs print its message as one line and exit 2."""


class InputError(Exception):
    """Bad user input (a file, a row, a flag). The message names the file and the problem."""


EXIT_BAD_INPUT = 2


class TrainingStopped(Exception):
    """Training cannot go on (a non-finite loss); the message names the step."""
