"""Test-wide settings.

- One torch thread: hidden-size-1 cells gain nothing from intra-op threads, and on a loaded
  2-core machine two threads stalled float32 nn.LSTM for seconds.
- Hypothesis draws the same examples on every run (profile "ci", derandomized), so a CI
  failure replays anywhere and a green run stays green; its failures print a blob for
  `@reproduce_failure`. To search new examples:
  COUNTING_HYPOTHESIS_PROFILE=hunt python -m pytest -m slow tests/test_verify.py --hypothesis-seed=N
"""

import os

import torch
from hypothesis import settings

torch.set_num_threads(1)

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("hunt", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("COUNTING_HYPOTHESIS_PROFILE", "ci"))
