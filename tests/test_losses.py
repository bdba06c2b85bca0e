"""The torch KL loss of the neural models against Kaggle's metric (hms.metrics)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hms.metrics import kl_divergence, kl_per_row
from hms.train.loss import kl_loss, kl_per_sample


def _random_targets(rng: np.random.Generator, n: int) -> np.ndarray:
    votes = rng.integers(0, 5, size=(n, 6)).astype(np.float64)
    votes[votes.sum(axis=1) == 0, 5] = 1  # every row needs a vote
    votes[:5, 1:] = 0  # some one-hot rows: zero targets must count 0, as in the metric
    votes[:5, 0] = 3
    return votes / votes.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("scale", [0.5, 3.0, 5.0])
def test_kl_loss_equals_metric(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 10))
    y = _random_targets(rng, 200)
    logits = rng.normal(scale=scale, size=(200, 6))
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    assert probs.min() > 1e-15  # no clipping at these scales: the two must agree
    torch_loss = kl_loss(torch.tensor(logits, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert float(torch_loss) == pytest.approx(kl_divergence(y, probs), rel=1e-5, abs=1e-6)
    per = kl_per_sample(torch.tensor(logits, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(per, kl_per_row(y, probs), rtol=1e-4, atol=1e-5)


def test_weighted_kl_loss() -> None:
    rng = np.random.default_rng(1)
    y = torch.tensor(_random_targets(rng, 50), dtype=torch.float32)
    logits = torch.tensor(rng.normal(size=(50, 6)), dtype=torch.float32)
    w = torch.tensor(rng.uniform(0.1, 2.0, 50), dtype=torch.float32)
    per = kl_per_sample(logits, y)
    assert float(kl_loss(logits, y, w)) == pytest.approx(float((per * w).sum() / w.sum()), rel=1e-6)
    assert float(kl_loss(logits, y, torch.ones(50))) == pytest.approx(float(kl_loss(logits, y)), rel=1e-6)


def test_kl_loss_differs_from_metric_only_by_clipping() -> None:
    # a target class predicted with probability e^-60 < 1e-15: the metric clips, the loss does not
    y = np.array([[0.5, 0.5, 0, 0, 0, 0]])
    logits = np.array([[0.0, -60.0, 0, 0, 0, 0]])
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    loss = float(kl_loss(torch.tensor(logits, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)))
    clipped_terms = 0.5 * np.log(0.5 / 1e-15) - 0.5 * np.log(0.5 / probs[0, 1])
    assert loss > kl_divergence(y, probs)
    assert loss + clipped_terms == pytest.approx(kl_divergence(y, probs), rel=1e-5)
    assert np.isfinite(loss)


def test_kl_loss_gradient_is_softmax_minus_target() -> None:
    rng = np.random.default_rng(2)
    y = torch.tensor(_random_targets(rng, 8), dtype=torch.float32)
    logits = torch.tensor(rng.normal(size=(8, 6)), dtype=torch.float32, requires_grad=True)
    kl_loss(logits, y).backward()
    expected = (torch.softmax(logits.detach(), dim=1) - y) / 8
    torch.testing.assert_close(logits.grad, expected, rtol=1e-5, atol=1e-6)
