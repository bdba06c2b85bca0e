"""The two blenders. Both eat base-model probabilities as one array (n_models, n, 6) in the order
of `models`, fit by minimising the (vote-weighted) KL to the soft targets with scipy's L-BFGS and
analytic gradients, and round-trip through plain JSON (never pickle).

- PoolBlender: weights w >= 0, sum 1 (softmax parametrisation); p = sum_m w_m P_m ("linear") or
  p ∝ exp(sum_m w_m log P_m) ("log", a geometric pool, renormalised).
- StackerBlender: multinomial logistic regression on each model's centred log-probabilities,
  logits = T * (X @ W) + b, L2 penalty on W - W0 with W0 = the equal-weight log pool; W is
  "diagonal" (a weight per model and class) or "full" (every logit sees every input).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from hms.constants import N_CLASSES
from hms.ensemble.config import PoolConfig, StackConfig, StackerConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class Blender(Protocol):
    models: list[str]

    def fit(self, probs: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "Blender": ...
    def predict(self, probs: np.ndarray) -> np.ndarray: ...
    def to_json(self) -> dict[str, Any]: ...
    def model_weights(self) -> dict[str, float]: ...


def clip_probs(probs: np.ndarray, eps: float) -> np.ndarray:
    """Clip to eps and renormalise each distribution, so that logs stay finite."""
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, None)
    return p / p.sum(axis=-1, keepdims=True)


def _check_inputs(probs: np.ndarray, n_models: int, y: np.ndarray | None = None) -> None:
    if probs.ndim != 3 or probs.shape[0] != n_models or probs.shape[2] != N_CLASSES:
        raise ValueError(f"blender input must be (n_models={n_models}, n, {N_CLASSES}), got {probs.shape}")
    if y is not None and y.shape != probs.shape[1:]:
        raise ValueError(f"targets {y.shape} do not match predictions {probs.shape[1:]}")


def _norm_weight(weight: np.ndarray | None, n: int) -> np.ndarray:
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    if w.shape != (n,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("sample weights must be n non-negative numbers with a positive sum")
    return w / w.sum()


def _entropy(y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean of sum_k y log y (minus the entropy): KL = cross-entropy + this, a constant of the fit."""
    safe = np.where(y > 0, y, 1.0)
    return float((w * (y * np.log(safe)).sum(axis=1)).sum())


@dataclass
class PoolBlender:
    models: list[str]
    cfg: PoolConfig = field(default_factory=PoolConfig)
    eps: float = 1e-6
    weights: np.ndarray | None = None
    fit_kl: float | None = None  # in-sample weighted KL of the fit (not a CV score)

    def _mix(self, logp: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
        if self.cfg.space == "linear":
            return np.einsum("m,mnk->nk", w, p)
        return softmax(np.einsum("m,mnk->nk", w, logp), axis=1)

    def objective(self, probs: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None):
        """(loss, gradient) of the weighted cross-entropy as a function of the softmax logits `a` of
        the weights (KL = this + the targets' entropy, a constant)."""
        _check_inputs(probs, len(self.models), y)
        p = clip_probs(probs, self.eps)
        logp = np.log(p)
        sw = _norm_weight(weight, p.shape[1])
        linear = self.cfg.space == "linear"

        def loss_grad(a: np.ndarray) -> tuple[float, np.ndarray]:
            w = softmax(a)
            if linear:
                mix = np.einsum("m,mnk->nk", w, p)
                loss = -float((sw[:, None] * y * np.log(mix)).sum())
                # dL/dw_m = -sum_i sw_i sum_k y_ik P_mik / mix_ik
                g_w = -np.einsum("n,nk,mnk->m", sw, y / mix, p)
            else:
                ls = log_softmax(np.einsum("m,mnk->nk", w, logp), axis=1)
                loss = -float((sw[:, None] * y * ls).sum())
                g_s = sw[:, None] * (np.exp(ls) - y)  # rows of y sum to 1
                g_w = np.einsum("nk,mnk->m", g_s, logp)
            return loss, w * (g_w - w @ g_w)  # chain rule through the softmax

        return loss_grad

    def fit(self, probs: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "PoolBlender":
        loss_grad = self.objective(probs, y, weight)
        # start from equal weights: deterministic, no seed needed
        res = minimize(loss_grad, np.zeros(len(self.models)), jac=True, method="L-BFGS-B",
                       options={"maxiter": self.cfg.maxiter, "gtol": 1e-9})
        if not res.success:
            log.warning("pool blender: optimiser stopped early (%s); using its last weights", res.message)
        self.weights = softmax(res.x)
        self.fit_kl = float(res.fun) + _entropy(y, _norm_weight(weight, y.shape[0]))
        return self

    def predict(self, probs: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("pool blender: predict before fit")
        _check_inputs(probs, len(self.models))
        p = clip_probs(probs, self.eps)
        return self._mix(np.log(p), p, self.weights)

    def model_weights(self) -> dict[str, float]:
        return {m: float(w) for m, w in zip(self.models, self.weights)}

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "blender": "pool", "models": self.models, "eps": self.eps,
                "space": self.cfg.space, "weights": self.model_weights(), "fit_kl": self.fit_kl}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PoolBlender":
        b = cls(list(d["models"]), PoolConfig(space=d["space"]), eps=float(d["eps"]), fit_kl=d.get("fit_kl"))
        b.weights = np.array([d["weights"][m] for m in b.models], dtype=np.float64)
        return b


def stacker_features(probs: np.ndarray, eps: float) -> np.ndarray:
    """(n, n_models * 6): each model's log-probabilities centred over classes (a softmax-invariant
    shift), so a model's overall confidence level does not leak into every logit."""
    logp = np.log(clip_probs(probs, eps))
    logp = logp - logp.mean(axis=2, keepdims=True)
    return np.concatenate(list(logp), axis=1)


@dataclass
class StackerBlender:
    models: list[str]
    cfg: StackerConfig = field(default_factory=StackerConfig)
    eps: float = 1e-6
    W: np.ndarray | None = None  # (n_models * 6, 6)
    b: np.ndarray | None = None  # (6,)
    temperature: float = 1.0
    fit_kl: float | None = None

    def prior_W(self) -> np.ndarray:
        """The equal-weight log pool: logits = mean over models of their log-probabilities."""
        return np.tile(np.eye(N_CLASSES), (len(self.models), 1)) / len(self.models)

    def _diag_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of W's entries that the diagonal form learns: model m's class k -> logit k."""
        m, k = np.meshgrid(np.arange(len(self.models)), np.arange(N_CLASSES), indexing="ij")
        return (m * N_CLASSES + k).ravel(), k.ravel()

    def _n_w(self) -> int:
        d = len(self.models) * N_CLASSES
        return d if self.cfg.form == "diagonal" else d * N_CLASSES

    def _unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        n_w = self._n_w()
        if self.cfg.form == "diagonal":
            W = np.zeros((len(self.models) * N_CLASSES, N_CLASSES))
            W[self._diag_index()] = theta[:n_w]
        else:
            W = theta[:n_w].reshape(-1, N_CLASSES)
        rest = theta[n_w:]
        b = rest[:N_CLASSES] if self.cfg.bias else np.zeros(N_CLASSES)
        log_t = rest[-1] if self.cfg.temperature else 0.0
        return W, b, float(log_t)

    def _pack_w(self, W: np.ndarray) -> np.ndarray:
        return W[self._diag_index()] if self.cfg.form == "diagonal" else W.ravel()

    def objective(self, probs: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None):
        """(loss, gradient) of weighted cross-entropy + L2 as a function of theta = [W, b?, log T?]."""
        _check_inputs(probs, len(self.models), y)
        X = stacker_features(probs, self.eps)
        sw = _norm_weight(weight, X.shape[0])
        W0 = self.prior_W()
        l2 = self.cfg.l2

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b, log_t = self._unpack(theta)
            t = np.exp(log_t)
            h = X @ W
            ls = log_softmax(t * h + b, axis=1)
            dW_reg = W - W0
            loss = -float((sw[:, None] * y * ls).sum()) + 0.5 * l2 * float((dW_reg ** 2).sum())
            g = sw[:, None] * (np.exp(ls) - y)  # dL/dlogits
            grads = [self._pack_w(t * (X.T @ g) + l2 * dW_reg)]
            if self.cfg.bias:
                grads.append(g.sum(axis=0))
            if self.cfg.temperature:
                grads.append(np.array([t * float((g * h).sum())]))
            return loss, np.concatenate(grads)

        return loss_grad

    def initial_theta(self) -> np.ndarray:
        """Start at the equal-weight log pool with no bias and T = 1: deterministic, no seed needed."""
        return np.concatenate([self._pack_w(self.prior_W()), np.zeros(N_CLASSES if self.cfg.bias else 0),
                               np.zeros(1 if self.cfg.temperature else 0)])

    def fit(self, probs: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> "StackerBlender":
        loss_grad = self.objective(probs, y, weight)
        X = stacker_features(probs, self.eps)
        sw = _norm_weight(weight, X.shape[0])
        theta0 = self.initial_theta()
        res = minimize(loss_grad, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": self.cfg.maxiter, "gtol": 1e-9})
        if not res.success:
            log.warning("stacker: optimiser stopped early (%s); using its last coefficients", res.message)
        W, b, log_t = self._unpack(res.x)
        self.W, self.b, self.temperature = W.copy(), b.copy(), float(np.exp(log_t))
        ls = log_softmax(self.temperature * (X @ self.W) + self.b, axis=1)
        self.fit_kl = -float((sw[:, None] * y * ls).sum()) + _entropy(y, sw)
        return self

    def predict(self, probs: np.ndarray) -> np.ndarray:
        if self.W is None:
            raise RuntimeError("stacker: predict before fit")
        _check_inputs(probs, len(self.models))
        return softmax(self.temperature * (stacker_features(probs, self.eps) @ self.W) + self.b, axis=1)

    def model_weights(self) -> dict[str, float]:
        """Not mixture weights: each model's share of the coefficient mass (Frobenius norm of its
        6x6 block of T*W), for reports."""
        blocks = (self.temperature * self.W).reshape(len(self.models), N_CLASSES, N_CLASSES)
        norms = np.sqrt((blocks ** 2).sum(axis=(1, 2)))
        return {m: float(v) for m, v in zip(self.models, norms / norms.sum())}

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "blender": "stacker", "models": self.models, "eps": self.eps,
                "form": self.cfg.form, "l2": self.cfg.l2, "bias": self.cfg.bias, "temperature_fitted": self.cfg.temperature,
                "W": self.W.tolist(), "b": self.b.tolist(), "temperature": self.temperature,
                "importance": self.model_weights(), "fit_kl": self.fit_kl}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StackerBlender":
        cfg = StackerConfig(form=d["form"], l2=float(d["l2"]), bias=bool(d["bias"]), temperature=bool(d["temperature_fitted"]))
        s = cls(list(d["models"]), cfg, eps=float(d["eps"]), fit_kl=d.get("fit_kl"))
        s.W = np.asarray(d["W"], dtype=np.float64)
        s.b = np.asarray(d["b"], dtype=np.float64)
        s.temperature = float(d["temperature"])
        if s.W.shape != (len(s.models) * N_CLASSES, N_CLASSES) or s.b.shape != (N_CLASSES,):
            raise ValueError(f"stacker JSON: W {s.W.shape} / b {s.b.shape} do not fit {len(s.models)} models")
        return s


def make_blender(cfg: StackConfig, models: list[str]) -> PoolBlender | StackerBlender:
    """An unfitted blender of `models` as params.yaml's `stack` block describes it."""
    models = list(models)
    if cfg.blender == "pool":
        return PoolBlender(models, cfg.pool, eps=cfg.eps)
    return StackerBlender(models, cfg.stacker, eps=cfg.eps)


def blender_from_json(d: dict[str, Any]) -> PoolBlender | StackerBlender:
    if d.get("format") != FORMAT_VERSION:
        raise ValueError(f"blender JSON format {d.get('format')!r} is not {FORMAT_VERSION}; rerun `dvc repro stack`")
    kinds = {"pool": PoolBlender, "stacker": StackerBlender}
    if d.get("blender") not in kinds:
        raise ValueError(f"blender JSON: unknown blender {d.get('blender')!r}; expected one of {sorted(kinds)}")
    return kinds[d["blender"]].from_json(d)
