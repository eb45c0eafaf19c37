"""Exceptions that carry one clear, user-facing sentence.

All subclass ValueError so callers that only know the standard library still catch them;
the CLI, the evaluator and the app turn them into one line / a gr.Error instead of a traceback.
"""


class DeblurError(ValueError):
    """Base class for errors caused by the user's input, not by a bug."""


class ImageError(DeblurError):
    """An image or video file is missing, empty, corrupt or unusable."""


class DatasetError(DeblurError):
    """A dataset path does not exist or does not have the expected layout."""


class UnknownModelError(DeblurError):
    """A model name is not registered; the message lists the valid names."""


class WeightsError(DeblurError):
    """A weight file is missing, corrupted (file or tensor checksum) or cannot rebuild its model,
    or the weights manifest is malformed."""
