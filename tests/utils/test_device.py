"""check_device: a device parameter is refused with its name, value and reason."""

import pytest
import torch

from sknegsample.utils._device import check_device


@pytest.mark.parametrize("device, canonical", [
    ("cpu", "cpu"), ("cpu:0", "cpu:0"), (torch.device("cpu"), "cpu"),
])
def test_cpu_devices(device, canonical):
    assert check_device(device) == canonical


@pytest.mark.parametrize("device, error, match", [
    ("nonsense", ValueError, r"^device must be a torch device .*got 'nonsense'"),
    ("CPU", ValueError, "got 'CPU'"),
    ("", ValueError, "got ''"),
    ("cuda:x", ValueError, "got 'cuda:x'"),
    ("meta", ValueError, "must be a compute device.*got 'meta'"),
    (0, TypeError, "device must be a str or torch.device.*got 0 of type int"),
    (None, TypeError, "got None"),
])
def test_bad_devices(device, error, match):
    with pytest.raises(error, match=match):
        check_device(device)


def test_the_name_is_the_parameter_named():
    with pytest.raises(ValueError, match="^head__device must be"):
        check_device("gpu", name="head__device")


def test_cuda_on_a_build_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda' needs CUDA, but this torch build "
                                         r"\(.*\) has no CUDA support"):
        check_device("cuda")


def test_cuda_on_a_machine_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="finds no CUDA device"):
        check_device(torch.device("cuda", 0))


def test_cuda_index_past_the_devices(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match=r"names CUDA device 2, but this machine has 2 "
                                         r"\(cuda:0 to cuda:1\)"):
        check_device("cuda:2")


def test_mps_without_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='mps' needs Apple's MPS"):
        check_device("mps")
