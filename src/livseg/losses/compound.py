"""Weighted sums of losses and the name -> loss registry behind ``build_loss``."""

from __future__ import annotations

import inspect
import re
from typing import Any, Sequence

import torch
from torch import nn

from livseg.errors import ConfigError, UnknownNameError
from livseg.losses.cross_entropy import CrossEntropyLoss, FocalLoss
from livseg.losses.overlap import ExpLogDiceLoss, JaccardLoss, SoftDiceLoss, TverskyLoss

LOSSES: dict[str, type[nn.Module]] = {
    "ce": CrossEntropyLoss,
    "dice": SoftDiceLoss,
    "explog_dice": ExpLogDiceLoss,
    "jaccard": JaccardLoss,
    "tversky": TverskyLoss,
    "focal": FocalLoss,
}


class CompoundLoss(nn.Module):
    """``sum_i weight_i * loss_i(logits, target)``.

    Args:
        terms: (weight, loss) pairs; each loss maps (logits (N, C, *S), target (N, *S)) to a
            scalar.

    After each call ``last_terms`` holds every term's unweighted value (detached; keys are the
    losses' ``name`` attributes, made unique with a suffix) and "total".
    """

    name = "compound"

    def __init__(self, terms: Sequence[tuple[float, nn.Module]]) -> None:
        super().__init__()
        if not terms:
            raise ConfigError("CompoundLoss", expected="at least one (weight, loss) term", found="none")
        self.weights = [float(w) for w, _ in terms]
        self.losses = nn.ModuleList(loss for _, loss in terms)
        names: list[str] = []
        for loss in self.losses:
            base = str(getattr(loss, "name", type(loss).__name__))
            name, k = base, 2
            while name in names:
                name, k = f"{base}_{k}", k + 1
            names.append(name)
        self.names = names
        self.name = "+".join(names)
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        values = [loss(logits, target) for loss in self.losses]
        total = sum((w * v for w, v in zip(self.weights, values)), torch.zeros((), device=logits.device))
        self.last_terms = {name: v.detach() for name, v in zip(self.names, values)}
        self.last_terms["total"] = total.detach()
        return total


def _accepted(cls: type[nn.Module]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _single(name: str, options: dict[str, Any], subject: str) -> nn.Module:
    if name not in LOSSES:
        raise UnknownNameError(name, expected=f"a loss among {sorted(LOSSES)} or a sum like 'dice+ce'",
                               found="an unknown loss name", fix="set loss.name in the config")
    unknown = sorted(set(options) - set(_accepted(LOSSES[name])))
    if unknown:
        raise ConfigError(subject, expected=f"options of '{name}' among {_accepted(LOSSES[name])}",
                          found=f"unknown option(s) {unknown}")
    return LOSSES[name](**options)


_TERM = re.compile(r"^\s*(?:(?P<weight>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?(?P<name>[a-z_]+)\s*$")


def build_loss(name: str, **options: Any) -> nn.Module:
    """Build a loss by name: one of ``LOSSES`` or a weighted sum such as "dice+ce" or "0.5*dice+ce".

    For a single loss, ``options`` are its keyword options. For a sum, an option named after a
    term (a dict, e.g. ``ce={"weight": [1, 3]}``) goes to that term, ``weights=[...]`` sets the
    term weights (instead of the ``w*`` prefixes), and every other option goes to each term that
    accepts it (e.g. ``ignore_index``); an option no term accepts is an error.

    Returns a module mapping (logits (N, C, D, H, W), target (N, D, H, W) int64) to a scalar,
    with the latest scalar components in ``last_terms``.
    """
    parts = name.split("+")
    if len(parts) == 1 and _TERM.match(name) and not _TERM.match(name).group("weight"):  # type: ignore[union-attr]
        return _single(name.strip(), options, f"loss '{name}'")
    terms: list[tuple[float, str]] = []
    for part in parts:
        match = _TERM.match(part)
        if not match:
            raise ConfigError(f"loss '{name}'", expected="terms like 'dice' or '0.5*dice' joined by '+'",
                              found=repr(part))
        terms.append((float(match.group("weight") or 1.0), match.group("name")))
    options = dict(options)
    weights = options.pop("weights", None)
    if weights is not None:
        if len(weights) != len(terms):
            raise ConfigError(f"loss '{name}' option 'weights'", expected=f"{len(terms)} weights",
                              found=str(list(weights)))
        terms = [(float(w), n) for w, (_, n) in zip(weights, terms)]
    per_term = {n: dict(options.pop(n)) for _, n in terms if isinstance(options.get(n), dict)}
    for key in options:
        if not any(n in LOSSES and key in _accepted(LOSSES[n]) for _, n in terms):
            raise ConfigError(f"loss '{name}'", expected="options accepted by one of its terms",
                              found=f"unknown option '{key}'")
    built = []
    for weight, term in terms:
        shared = {k: v for k, v in options.items() if term in LOSSES and k in _accepted(LOSSES[term])}
        built.append((weight, _single(term, {**shared, **per_term.get(term, {})}, f"loss '{name}' term '{term}'")))
    return CompoundLoss(built)
