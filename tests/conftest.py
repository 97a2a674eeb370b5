"""Test-wide settings: one torch thread (hidden-size-1 cells gain nothing from intra-op
threads, and on a loaded 2-core machine two threads stalled float32 nn.LSTM for seconds)."""

import torch

torch.set_num_threads(1)
