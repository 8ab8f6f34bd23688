"""The one error the training job raises for bad input."""


class TrainingInputError(Exception):
    """Input the job cannot use: a missing file or column, an unreadable format, a bad value.

    The command prints the message as one line on stderr and exits with code 2; no snapshot
    is published.
    """
