"""Tools around the engine: benchmarks, evaluation, training, int8 calibration, the dense baseline, contact
sheets, and the host installers."""
