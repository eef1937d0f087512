"""Names and defaults the command line offers before torch is loaded: the devices and the precisions (``devices``
maps them to torch's; a test keeps the two equal), and the temporal mode's defaults (``temporal`` uses them)."""

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISION_NAMES = ("float32", "float16", "bfloat16", "int8")
TEMPORAL_MARGIN = 0.02  # measured in docs/temporal.md
TEMPORAL_BLEND = 0.5
