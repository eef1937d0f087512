"""User-facing errors: one clear line each, never a traceback."""


class StyleSwapError(Exception):
    """A problem the user can fix (bad input, missing weights, bad option); the message says how."""


class WeightsError(StyleSwapError):
    """Encoder or network weights are missing, corrupt or could not be downloaded."""


class ImageError(StyleSwapError):
    """An image could not be read, is out of bounds, or cannot be written where asked."""
