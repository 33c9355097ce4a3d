"""The scorer's skorch net, built from its ``head`` parameter, and its seeded training.

:func:`make_head_net` turns the scorer's ``head`` parameter (None, a skorch
net, a torch module class or instance) into an unfitted skorch net with the
pair collation, module sizes, the divergence check and, under a curriculum,
the re-mining callback. A module instance is deep-copied first (skorch
trains an instance in place), so the parameter is never mutated and every
fit starts from the same weights. :func:`fit_head_net` trains it from a seed
and leaves it in eval mode.
"""

from __future__ import annotations

import copy

import torch
from sklearn.base import clone
from skorch import NeuralNet, NeuralNetClassifier

from ..utils._device import check_device
from ._callbacks import CurriculumRemining, StopOnNonFiniteLoss
from ._head import PairHead, collate_batch


def make_head_net(scorer, n_features, curriculum_seed):
    """The unfitted skorch net of ``scorer`` (a :class:`BallTreePairScorer`)."""
    head = scorer.head
    flat = dict(lr=scorer.lr, max_epochs=scorer.max_epochs, batch_size=scorer.batch_size,
                device=scorer.device)
    defaults = dict(criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
                    train_split=None, iterator_train__shuffle=True, verbose=0)
    module_params = dict(module__n_features=n_features,
                         module__include_distance=scorer.include_distance)
    if head is None:
        net = NeuralNetClassifier(PairHead, module__hidden_units=scorer.hidden_units,
                                  **defaults, **flat)
    elif isinstance(head, NeuralNet):
        # clone() deep-copies a module instance the net holds, as below.
        net = clone(head)
        if isinstance(net.module, torch.nn.Module):
            module_params = {}
    elif isinstance(head, torch.nn.Module):
        net = NeuralNetClassifier(copy.deepcopy(head), **defaults, **flat)
        module_params = {}
    elif issubclass(head, torch.nn.Module):
        net = NeuralNetClassifier(head, **defaults, **flat)
    else:
        raise TypeError(
            "head must be None, a skorch NeuralNet, or a torch.nn.Module class or "
            f"instance; got the class {head.__name__}."
        )
    net.set_params(**module_params, iterator_train__collate_fn=collate_batch,
                   iterator_valid__collate_fn=collate_batch)
    callbacks = [("stop_on_non_finite_loss",
                  StopOnNonFiniteLoss("head__lr" if isinstance(head, NeuralNet) else "lr"))]
    if scorer.curriculum is not None and scorer.curriculum is not False:
        schedule = {} if scorer.curriculum is True else {"schedule": scorer.curriculum}
        callbacks.append(("curriculum", CurriculumRemining(**schedule,
                                                          random_state=curriculum_seed)))
    existing = net.callbacks if isinstance(net.callbacks, list) else []
    net.set_params(callbacks=[*existing, *callbacks])
    return net


def fit_head_net(net, dataset, seed: int):
    """Train ``net`` on ``dataset`` from ``seed``; return it in eval mode.

    The seed drives the module's initialisation, the batch shuffling and,
    on a GPU, dropout, through forked generators: the caller's global torch
    state is left as it was. Only the CPU generator and the training
    device's are seeded (``torch.manual_seed`` would reseed every CUDA
    device and, under ``fork_rng(devices=[])``, never restore them).

    Eval mode is set once, here and at load, rather than toggled around
    each scoring call: concurrent calls share the module, and a flag flipped
    by one thread would switch dropout on in another's forward pass.
    """
    device = torch.device(net.device or "cpu")
    cuda = []
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        net.fit(dataset, y=None)
    net.module_.eval()
    return net


def check_head_device(scorer) -> None:
    """Refuse a device the head cannot train on, before anything is mined.

    The flat ``device`` drives the default and module heads; a skorch net
    head trains on its own ``device`` (None: skorch leaves the module where
    it is).
    """
    if isinstance(scorer.head, NeuralNet):
        if scorer.head.device is not None:
            check_device(scorer.head.device, name="head__device")
    else:
        check_device(scorer.device)
