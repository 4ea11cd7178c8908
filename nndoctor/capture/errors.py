"""The one error of capture (torch-free, so that the command line can name it without importing torch)."""


class CaptureError(Exception):
    """The script cannot be captured (not found, exited or raised before its first step, never stepped): one
    line for the user, exit 2."""
