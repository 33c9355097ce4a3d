"""Torch device helpers: tensors of numpy buffers, devices a saved model can load on."""

from __future__ import annotations

import warnings

import numpy as np
import torch


def _tensor(array: np.ndarray, device: str) -> torch.Tensor:
    """A tensor view of ``array`` on ``device``; copied when read-only.

    torch cannot hold a read-only buffer (a memory-mapped ``.npy`` opened with
    ``mmap_mode="r"``, say), and warns when asked to.
    """
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).to(device)


def _loadable_device(device: str) -> str:
    """``device``, or "cpu" when it names CUDA and this machine has none."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"This model was saved with device={device!r} but CUDA is not available "
            "here; its brute-force index is loaded on 'cpu' instead.",
            UserWarning,
            stacklevel=2,
        )
        return "cpu"
    return device

