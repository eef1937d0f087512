"""Names the command line offers before torch is loaded: the devices and the precisions (``devices`` maps them to
torch's; a test keeps the two equal)."""

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISION_NAMES = ("float32", "float16", "bfloat16", "int8")
