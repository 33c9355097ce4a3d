"""Torch device helpers: checked device names, tensors of numpy buffers, loadable devices."""

from __future__ import annotations

import warnings

import numpy as np
import torch

# Device types the package runs on; torch parses more ("meta", "lazy", ...),
# which hold no data to compute with.
_COMPUTE_TYPES = ("cpu", "cuda", "mps", "xpu")


def check_device(device, name: str = "device") -> str:
    """Validate a torch device parameter; return its canonical string.

    torch's own errors for a bad device name a device type list or, for
    CUDA on a CPU-only build, only "Torch not compiled with CUDA enabled"
    (an AssertionError, raised at the first tensor moved). This says which
    parameter, what it received and why it cannot be used here.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"xpu"``, ...
    name : str, default="device"
        The parameter's name in messages (``"head__device"`` for a nested one).

    Returns
    -------
    device : str
        ``str(torch.device(device))``, e.g. ``"cpu"`` or ``"cuda:0"``.

    Raises
    ------
    TypeError
        ``device`` is neither a str nor a ``torch.device``.
    ValueError
        ``device`` is not a device name, not a compute device, or names an
        accelerator this torch build or this machine does not have.

    Examples
    --------
    >>> from sknegsample.utils._device import check_device
    >>> check_device("cpu")
    'cpu'
    >>> check_device("nonsense")
    Traceback (most recent call last):
    ...
    ValueError: device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; got 'nonsense'.
    """
    if isinstance(device, torch.device):
        parsed = device
    elif isinstance(device, str):
        try:
            parsed = torch.device(device)
        except RuntimeError:
            raise ValueError(f"{name} must be a torch device such as 'cpu', 'cuda' or "
                             f"'cuda:1'; got {device!r}.") from None
    else:
        raise TypeError(f"{name} must be a str or torch.device such as 'cpu' or 'cuda'; "
                        f"got {device!r} of type {type(device).__name__}.")
    kind = parsed.type
    if kind not in _COMPUTE_TYPES:
        raise ValueError(f"{name} must be a compute device, one of {list(_COMPUTE_TYPES)} "
                         f"(with an optional ':index'); got {device!r}.")
    if kind == "cuda":
        if not torch.backends.cuda.is_built():
            raise ValueError(
                f"{name}={device!r} needs CUDA, but this torch build ({torch.__version__}) "
                f"has no CUDA support; use {name}='cpu' or install a CUDA build of torch.")
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}={device!r} needs CUDA, but torch finds no CUDA device on this "
                f"machine (torch.cuda.is_available() is False); use {name}='cpu'.")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{name}={device!r} names CUDA device {parsed.index}, but this "
                             f"machine has {count} (cuda:0 to cuda:{count - 1}).")
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={device!r} needs Apple's MPS, which this torch build or "
                         f"machine does not provide; use {name}='cpu'.")
    elif kind == "xpu" and not torch.xpu.is_available():
        raise ValueError(f"{name}={device!r} needs an Intel XPU, which this torch build or "
                         f"machine does not provide; use {name}='cpu'.")
    return str(parsed)


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

