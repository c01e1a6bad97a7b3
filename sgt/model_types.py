"""The model types a user can create, built on torch.

Every type is defined by `in_size` and `out_size` alone:

- linear_regression: one linear layer, mean squared error; outputs the predicted values.
- logistic_regression: one linear layer; out_size 1 is binary (sigmoid, binary cross
  entropy), out_size >= 2 is softmax over out_size classes (cross entropy); outputs
  probabilities.
- mlp_regression / mlp_classification: two hidden layers of MLP_HIDDEN units with ReLU,
  then the same heads and losses as above.
"""

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from torch import nn

MLP_HIDDEN = 32

_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@contextmanager
def single_thread():
    """Run torch on one intra-op thread while any SGT work is in progress.

    These models are tiny, so threads only add overhead; and in a process forked after
    torch was imported (Celery prefork children, preloaded web workers) the OpenMP pool
    makes every op crawl or deadlock. The previous setting comes back afterwards.
    """
    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


@dataclass(frozen=True)
class ModelType:
    name: str
    description: str
    classification: bool
    hidden: tuple = ()

    def build(self, in_size, out_size):
        layers = []
        width = in_size
        for units in self.hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, out_size))
        return nn.Sequential(*layers)


MODEL_TYPES = {
    t.name: t
    for t in [
        ModelType("linear_regression", _("Linear regression (least squares)"), classification=False),
        ModelType("logistic_regression", _("Logistic / softmax classification"), classification=True),
        ModelType(
            "mlp_regression", format_lazy(_("MLP regression, 2 hidden layers of {units}"), units=MLP_HIDDEN),
            False, (MLP_HIDDEN,) * 2,
        ),
        ModelType(
            "mlp_classification", format_lazy(_("MLP classification, 2 hidden layers of {units}"), units=MLP_HIDDEN),
            True, (MLP_HIDDEN,) * 2,
        ),
    ]
}


def get_type(name):
    return MODEL_TYPES[name]


def build_network(model_type, in_size, out_size, seed=None):
    """A freshly initialised network; the same seed gives the same initial weights."""
    if seed is None:
        return get_type(model_type).build(in_size, out_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_type(model_type).build(in_size, out_size)


def weights_to_bytes(network):
    state = {k: v.detach().contiguous().cpu() for k, v in network.state_dict().items()}
    return save_safetensors(state)


def network_from_bytes(model_type, in_size, out_size, blob):
    network = build_network(model_type, in_size, out_size)
    network.load_state_dict(load_safetensors(bytes(blob)))
    network.eval()
    return network


def predict(network, model_type, inputs):
    """inputs: float32 array (rows, in_size) -> float array (rows, out_size)."""
    with single_thread(), torch.inference_mode():
        out = network(torch.from_numpy(inputs))
        if get_type(model_type).classification:
            out = torch.sigmoid(out) if out.shape[1] == 1 else torch.softmax(out, dim=1)
    return out.numpy()


def loss_function(model_type, out_size):
    if not get_type(model_type).classification:
        return nn.MSELoss()
    if out_size == 1:
        return nn.BCEWithLogitsLoss()
    # Targets are class probabilities (one-hot for hard labels).
    return nn.CrossEntropyLoss()


@dataclass
class TrainResult:
    network: nn.Module
    epochs: int
    final_loss: float
    history: list  # [(epoch, loss)] for this run, 1-based epochs
    seconds: float


def plan_epochs(rows, batch_size, target_steps, max_epochs):
    batches = math.ceil(rows / batch_size)
    return max(1, min(max_epochs, math.ceil(target_steps / batches)))


def _scales(values, standardize):
    """Mean and spread per column (0 and 1 where standardizing does not apply)."""
    if not standardize:
        return torch.zeros(values.shape[1]), torch.ones(values.shape[1])
    mean = values.mean(dim=0)
    spread = values.std(dim=0, unbiased=False)
    spread[spread < 1e-6] = 1.0
    return mean, spread


@torch.no_grad()
def _reparameterize(network, in_mean, in_spread, out_mean, out_spread, forward=True):
    """Move the weights between raw units and standardized units, exactly.

    Training runs on standardized inputs (and regression targets) so that one learning
    rate suits any scale; the first and last linear layers absorb the affine maps, so the
    stored weights always work on raw values.
    """
    first, last = network[0], network[-1]
    if forward:
        first.bias += first.weight @ in_mean
        first.weight *= in_spread
        last.weight /= out_spread[:, None]
        last.bias.sub_(out_mean).div_(out_spread)
    else:
        last.weight *= out_spread[:, None]
        last.bias.mul_(out_spread).add_(out_mean)
        first.weight /= in_spread
        first.bias -= first.weight @ in_mean


def train(
    network,
    model_type,
    out_size,
    data,
    *,
    in_size,
    seed=0,
    lr=0.01,
    batch_size=256,
    target_steps=1000,
    max_epochs=1000,
    max_seconds=120.0,
    tolerance=1e-8,
    on_epoch=None,
):
    """Train `network` in place with Adam on `data` (rows, in_size + out_size).

    Runs about `target_steps` optimizer steps (at least one epoch); stops early once the
    epoch loss in training units (standardized targets for regression) is below
    `tolerance`, or after `max_seconds`. `on_epoch(epoch, epochs, loss)`
    is called after every epoch (progress, cancellation). Losses are in raw units.
    """
    with single_thread():
        return _train(network, model_type, out_size, data, in_size=in_size, seed=seed, lr=lr,
                      batch_size=batch_size, target_steps=target_steps, max_epochs=max_epochs,
                      max_seconds=max_seconds, tolerance=tolerance, on_epoch=on_epoch)


def _train(network, model_type, out_size, data, *, in_size, seed, lr, batch_size, target_steps, max_epochs,
           max_seconds, tolerance, on_epoch):
    regression = not get_type(model_type).classification
    generator = torch.Generator().manual_seed(seed)
    tensor = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    raw_inputs, raw_targets = tensor[:, :in_size], tensor[:, in_size:]
    in_mean, in_spread = _scales(raw_inputs, True)
    out_mean, out_spread = _scales(raw_targets, regression)
    inputs = (raw_inputs - in_mean) / in_spread
    targets = (raw_targets - out_mean) / out_spread
    squared_spread = out_spread**2
    rows = tensor.shape[0]
    epochs = plan_epochs(rows, batch_size, target_steps, max_epochs)
    criterion = loss_function(model_type, out_size)
    _reparameterize(network, in_mean, in_spread, out_mean, out_spread, forward=True)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    network.train()
    history = []
    started = time.monotonic()
    epoch = 0
    try:
        for epoch in range(1, epochs + 1):
            order = torch.randperm(rows, generator=generator) if rows > batch_size else None
            total = scaled_total = 0.0
            for start in range(0, rows, batch_size):
                if order is None:
                    x, y = inputs, targets
                else:
                    index = order[start : start + batch_size]
                    x, y = inputs[index], targets[index]
                optimizer.zero_grad(set_to_none=True)
                out = network(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                scaled_total += loss.item() * x.shape[0]
                if regression:
                    total += (((out.detach() - y) ** 2) * squared_spread).mean().item() * x.shape[0]
                else:
                    total = scaled_total
            loss_value = total / rows
            history.append((epoch, loss_value))
            if not math.isfinite(loss_value):
                raise ValueError("training diverged (the loss is not finite)")
            if on_epoch is not None:
                on_epoch(epoch, epochs, loss_value)
            # Stop on the loss in training units: relative to the targets' spread for regression.
            if scaled_total / rows < tolerance or time.monotonic() - started > max_seconds:
                break
    finally:
        _reparameterize(network, in_mean, in_spread, out_mean, out_spread, forward=False)
        network.eval()
    # The loss of the final weights on raw data, not the running average of the last epoch.
    with torch.inference_mode():
        final = criterion(network(raw_inputs), raw_targets).item()
    return TrainResult(network, epoch, final, history, time.monotonic() - started)


def state_dict_numpy(blob):
    """Weights as numpy arrays, for tests and the admin."""
    return {k: v.numpy() for k, v in load_safetensors(bytes(blob)).items()}
