"""A real daemon on a CUDA card: models loaded once, at start, and kept on the card across requests.

Marked ``cuda``: skipped, and counted as skipped, without a GPU (tests/conftest.py).
"""

import numpy as np
import pytest

from daemon_helpers import picture, to_array, to_image

pytestmark = pytest.mark.cuda

MB = 2**20


def test_models_stay_resident_on_the_gpu_between_requests(launcher):
    daemon = launcher("--device", "cuda")
    with daemon.client(timeout=120) as client:
        engine = client.hello()["engine"]
        assert (engine["device"], engine["precision"], engine["state"]) == ("cuda", "float16", "idle")
        models = engine["models"]
        assert "vgg19-normalised/relu3_1/max on cuda" in models and "inverse network on cuda" in models
        resident = engine["memory"]["cuda_allocated_bytes"]
        assert resident > MB  # the encoder and the inverse network, in float16, before any request
        loaded = [line for line in daemon.log.splitlines() if " loaded " in line]
        assert len(loaded) == len(models)  # each logged once, at start
        content, style = picture(320, 180, 3, seed=1), to_image(picture(256, 256, 3, seed=2))
        outputs, cached = [], []
        for _ in range(2):
            result = client.stylize(to_image(content), style, {"max_size": 320, "style_size": 256})
            assert result.summary["device"] == "cuda" and result.warnings == []
            outputs.append(to_array(result.image))
            engine = client.hello()["engine"]
            assert engine["models"] == models
            assert engine["memory"]["cuda_allocated_bytes"] >= resident  # nothing was unloaded between requests
            cached.append(engine["styles_cached"])
        assert cached[0] == cached[1] > 0  # the second request found the first one's style
        assert [line for line in daemon.log.splitlines() if " loaded " in line] == loaded  # no request loaded a model
    assert outputs[0].shape == (180, 320, 3) and not np.array_equal(outputs[0], content)
    assert np.abs(outputs[0].astype(int) - outputs[1].astype(int)).max() <= 1  # the same work, from the same cache
