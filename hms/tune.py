"""`hms tune MODEL`: Bayesian search (Optuna's TPE) over the search space a model declares next to its
config (ModelSpec.search_space), scored by the model's OOF kl_hq on the shared folds through the one
cross-validation driver, on the pipeline's data/prepared and features/<kind>.

- Sampler: TPE seeded with params.yaml `seed`; trial 0 is the current params (the baseline).
- Pruning: after each fold the running OOF score of the folds done so far is reported; Optuna's
  MedianPruner stops a trial that is worse than the median of earlier trials after as many folds.
- Every fold goes through the fold cache (.hms_cache/folds/<model>/): rerunning the same command
  replays the same trials from the cache, and `dvc exp run` with the best params reuses its folds.
- Records (reports/tune/<model>/): trials.csv (every trial: state, scores, per-fold kl_hq, seconds,
  the values it tried) and history.png; reports/tune/<model>.yaml holds only the keys the best trial
  changes, with the `dvc exp run -S ...` line that runs them (or `--apply` writes them into params.yaml,
  comments kept).
Trials are scored in this process, not as DVC experiments: a trial must be prunable between folds, and
its folds are cached either way.
"""

from __future__ import annotations

import copy
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hms.data.targets import TARGET_COLS
from hms.errors import ConfigError
from hms.metrics import cv_scores
from hms.models.registry import get_spec
from hms.models.spec import ModelConfig, ModelSpec
from hms.params import load_params

log = logging.getLogger(__name__)

METRICS = ("kl_hq", "kl_all")
Space = Callable[[Any, ModelConfig], dict[str, Any]]


@dataclass
class TuneResult:
    trials: pd.DataFrame  # one row per trial (trials.csv)
    best: dict[str, Any]  # dotted key -> value of the best trial's changes to the params file
    best_value: float | None
    baseline_value: float | None  # trial 0 (the current params), when it ran
    params_file: Path  # reports/tune/<model>.yaml
    command: str  # the `dvc exp run -S ...` line


def tune(name: str, trials: int, *, timeout: float | None = None, params_path: Path = Path("params.yaml"),
         prepared: Path = Path("data/prepared"), features_root: Path = Path("features"),
         out_dir: Path = Path("reports/tune"), metric: str = "kl_hq", prune: bool = True,
         prune_startup: int = 5, baseline: bool = True, space: Space | None = None,
         enqueue: list[dict[str, Any]] | None = None) -> TuneResult:
    """Run the study (see the module docstring). `space` replaces the model's own search space and
    `enqueue` adds trials with fixed values (dotted key -> value) after the baseline (tests use both)."""
    import optuna

    from hms.train.cache import FoldCache, cache_root
    from hms.train.crossval import cross_validate

    from hms.models.registry import UnknownModelError

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial: our one-line warning, no traceback
    try:
        spec = get_spec(name)
    except UnknownModelError as exc:
        raise ConfigError(str(exc)) from None
    space = space or spec.search_space
    if space is None:
        raise ConfigError(f"model {name!r} declares no search space (ModelSpec.search_space in hms/models/{name}.py)")
    if metric not in METRICS:
        raise ConfigError(f"--metric must be one of {METRICS}, not {metric!r}")
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, not {trials}")
    params = load_params(params_path)
    blocks = {spec.family: params.get(spec.family), name: params.get(name)}
    if any(v is None for v in blocks.values()) or "seed" not in params:
        raise ConfigError(f"{params_path}: needs `seed`, `{spec.family}` and `{name}` (run `hms preset default`)")
    base_cfg = spec.config(blocks[spec.family], blocks[name])
    blocks = spec.blocks(base_cfg)  # every key, defaults filled in
    _check_space(space, base_cfg, blocks, spec)
    seed = int(params["seed"])
    train = pd.read_parquet(_need(Path(prepared) / "train.parquet", "dvc repro prepare"))
    test = pd.read_parquet(_need(Path(prepared) / "test.parquet", "dvc repro prepare"))
    features_dir = _need(Path(features_root) / spec.features, f"dvc repro features@{spec.features}")
    y = train[list(TARGET_COLS)].to_numpy(np.float64)
    n_votes = train["n_votes"].to_numpy()
    folds = train["fold"].to_numpy()
    work = cache_root() / "tune" / name
    records: dict[int, dict[str, Any]] = {}

    def objective(trial: optuna.Trial) -> float:
        start = time.perf_counter()
        rec = records[trial.number] = {"trial": trial.number, "state": "RUNNING"}
        overrides = {k: _round(v) for k, v in space(trial, base_cfg).items()}
        rec.update({f"param {k}": v for k, v in overrides.items()})
        trial.set_user_attr("overrides", overrides)
        trial_blocks = _apply(blocks, overrides, name, spec.family)
        cfg = spec.config(trial_blocks[spec.family], trial_blocks[name])
        oof, done = np.zeros_like(y), np.zeros(len(y), bool)
        fold_scores: dict[str, float | None] = {}

        def on_fold(k: int, rows: np.ndarray, probs: np.ndarray) -> None:
            oof[rows], done[rows] = probs, True
            fold_scores[f"fold{k}"] = cv_scores(y[rows], probs, n_votes[rows])[metric]
            rec.update(fold_scores)
            running = cv_scores(y[done], oof[done], n_votes[done])[metric]
            rec["folds_done"] = len(fold_scores)
            if running is not None:  # step 0 = after the first fold; n_warmup_steps=1: pruned from the second on
                trial.report(running, len(fold_scores) - 1)
            if prune and trial.should_prune():
                raise optuna.TrialPruned(f"after {len(fold_scores)} fold(s): {metric} {running}")

        model_dir = work / f"trial{trial.number}" / name
        try:
            result = cross_validate(spec, cfg, seed, train, test, features_dir, model_dir, cache=FoldCache(name),
                                    on_fold=on_fold)
        finally:
            rec["seconds"] = round(time.perf_counter() - start, 1)
            shutil.rmtree(model_dir.parent, ignore_errors=True)
        scores = cv_scores(y, result.oof, n_votes, folds)
        rec.update({"kl_hq": scores["kl_hq"], "kl_all": scores["kl_all"], "resumed_folds": len(result.resumed)})
        value = scores[metric]
        if value is None:
            raise ConfigError(f"no eeg with >= 10 votes: {metric} is undefined; use --metric kl_all")
        return value

    out = Path(out_dir)
    (out / name).mkdir(parents=True, exist_ok=True)

    def after(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        rec = records.setdefault(frozen.number, {"trial": frozen.number})
        rec["state"] = frozen.state.name
        if frozen.state == optuna.trial.TrialState.FAIL:
            rec["error"] = frozen.user_attrs.get("error", "")
        # after every trial, not only at the end: a study stopped by Ctrl-C or a kill keeps its record
        _table(records, metric).to_csv(out / name / "trials.csv", index=False)
        shown = {k[6:]: v for k, v in rec.items() if k.startswith("param ")}
        log.info("trial %d %s: %s=%s after %s fold(s), %.1f s, %s", frozen.number, frozen.state.name.lower(), metric,
                 _fmt(rec.get(metric) if frozen.state.name == "COMPLETE" else rec.get(f"fold{_last_fold(rec)}")),
                 rec.get("folds_done", 0), rec.get("seconds", 0.0), _overrides_text(shown))

    pruner = optuna.pruners.MedianPruner(n_startup_trials=prune_startup, n_warmup_steps=1) if prune \
        else optuna.pruners.NopPruner()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner,
                                study_name=f"hms-{name}")
    if baseline:
        study.enqueue_trial(_current_values(blocks, name, spec.family), user_attrs={"baseline": True})
    for fixed in enqueue or []:
        study.enqueue_trial(fixed)
    log.info("tuning %s: %d trial(s)%s on %s, %s (%d eegs, %d folds); %s, seed %d", name, trials,
             f", at most {timeout:.0f} s" if timeout else "", prepared, features_dir, len(train),
             len(np.unique(folds)), "MedianPruner" if prune else "no pruning", seed)
    study.optimize(_failing_as_records(objective), n_trials=trials, timeout=timeout, callbacks=[after],
                   catch=(Exception,), gc_after_trial=False)

    table = _table(records, metric)
    table.to_csv(out / name / "trials.csv", index=False)
    _history_plot(table, metric, out / name / "history.png", name)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        errors = [r.get("error") for r in records.values() if r.get("error")]
        raise RuntimeError(f"hms tune {name}: no trial completed ({len(study.trials)} tried); "
                           f"first error: {errors[0] if errors else 'none recorded'}; see {out / name / 'trials.csv'}")
    best_trial = study.best_trial
    current = _current_values(blocks, name, spec.family)
    best = {k: v for k, v in best_trial.user_attrs["overrides"].items() if current.get(k, _MISSING) != v}
    base = [t.value for t in done if t.user_attrs.get("baseline")]
    command = exp_run_command(best, params)
    params_file = out / f"{name}.yaml"
    _write_best(params_file, best, name, spec.family, params, metric, best_trial.value, base[0] if base else None,
                len(study.trials), command, best_trial.number)
    return TuneResult(table, best, best_trial.value, base[0] if base else None, params_file, command)


_MISSING = object()


def _check_space(space: Space, cfg: ModelConfig, blocks: dict[str, dict[str, Any]], spec: ModelSpec) -> None:
    """One throwaway sample before the study: a key outside the model's blocks is a bug of the space, an
    error now rather than N failed trials."""
    import optuna

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    _apply(blocks, space(trial, cfg), spec.name, spec.family)


def _failing_as_records(objective: Callable[[Any], float]) -> Callable[[Any], float]:
    """Keep a failed trial's one-line error in its user attrs (the table shows it)."""
    import optuna

    def run(trial: Any) -> float:
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            log.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
            raise

    return run


def _need(path: Path, how: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; `hms tune` reads the pipeline's outputs: run `{how}` first")
    return path


def _round(value: Any) -> Any:
    """Floats to 4 significant digits before a trial runs, so the written params reproduce it exactly."""
    if isinstance(value, float) and not isinstance(value, bool):
        return float(f"{value:.4g}")
    if isinstance(value, np.generic):
        return _round(value.item())
    return value


def _apply(blocks: dict[str, dict[str, Any]], overrides: dict[str, Any], name: str, family: str) -> dict[str, dict[str, Any]]:
    """The two params blocks with dotted-key overrides set; a key outside them is an error."""
    out = copy.deepcopy(blocks)
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in (name, family) or not rest:
            raise ConfigError(f"search space of {name}: key {key!r} is not in block `{name}` or `{family}`")
        node = out[head]
        *parents, leaf = rest.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"search space of {name}: {key!r} goes through a value that is not a block")
        node[leaf] = value
    return out


def _current_values(blocks: dict[str, dict[str, Any]], name: str, family: str) -> dict[str, Any]:
    """Every dotted key of the two blocks with its current value; `<model>.loop.<k>` (a neural model's
    override of the family block) falls back to `<family>.<k>`, the value it trains with."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(f"{prefix}.{k}", v)
        else:
            flat[prefix] = node

    for head, block in blocks.items():
        walk(head, block)
    if isinstance(blocks[name].get("loop"), dict):
        for k, v in blocks[family].items():
            flat.setdefault(f"{name}.loop.{k}", blocks[name]["loop"].get(k, v))
    return flat


def exp_run_command(best: dict[str, Any], params: dict[str, Any]) -> str:
    """`dvc exp run -S key=value ...` for the changes (`+key` where params.yaml lacks the key, as DVC's
    Hydra-style overrides need). Empty changes: the current params were best."""
    if not best:
        return "dvc exp run   # the current params were the best trial: nothing to change"
    parts = []
    for key, value in best.items():
        node: Any = params
        for part in key.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        parts.append(f"-S '{'' if node is not _MISSING else '+'}{key}={_flow(value)}'")
    return "dvc exp run " + " ".join(parts)


def _flow(value: Any) -> str:
    from hms.presets import _flow as flow

    return flow(value)


def _write_best(path: Path, best: dict[str, Any], name: str, family: str, params: dict[str, Any], metric: str,
                value: float, base: float | None, n_trials: int, command: str, number: int) -> None:
    import yaml

    nested: dict[str, Any] = {}
    for key, v in best.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = v
    shared = [m for m, entry in (params.get("models") or {}).items()
              if m != name and isinstance(entry, dict) and entry.get("family") == family]
    lines = [f"# hms tune {name}: the best of {n_trials} trial(s) is trial {number}, OOF {metric} {value:.6f}"
             + (f" (current params, trial 0: {base:.6f})" if base is not None else ""),
             f"# Only the keys it changes; every trial: {path.parent / name / 'trials.csv'}.",
             f"# Run them: {command}",
             f"# or write them into params.yaml (comments kept): hms tune {name} --apply {path}"]
    if any(k.startswith(family + ".") for k in best) and shared:
        lines.append(f"# Note: `{family}` is shared: these `{family}` keys change {', '.join(shared)} too.")
    body = yaml.safe_dump(nested, sort_keys=False, default_flow_style=False) if nested else "{}\n"
    path.write_text("\n".join(lines) + "\n" + body)


def apply_params_file(best_file: Path, params_path: Path = Path("params.yaml")) -> list[str]:
    """Write the keys of a `hms tune` result file into params.yaml in place (comments and key order kept);
    returns the keys that changed."""
    import yaml

    from hms.params import deep_merge
    from hms.presets import HEADER, write_params

    over = yaml.safe_load(Path(best_file).read_text()) or {}
    if not isinstance(over, dict):
        raise ConfigError(f"{best_file}: not a params file written by `hms tune`")
    params = load_params(params_path)
    first = Path(params_path).read_text().splitlines()[:1]
    label = re.match(r"^# The `([a-z]+)` preset", first[0]).group(1) if first and HEADER.match(first[0]) else "default"
    return write_params(deep_merge(params, over), Path(params_path), label)


def _table(records: dict[int, dict[str, Any]], metric: str) -> pd.DataFrame:
    rows = [records[k] for k in sorted(records)]
    table = pd.DataFrame(rows)
    first = [c for c in ("trial", "state", metric, *[m for m in METRICS if m != metric], "folds_done", "resumed_folds",
                         "seconds") if c in table.columns]
    folds = sorted((c for c in table.columns if re.fullmatch(r"fold\d+", c)), key=lambda c: int(c[4:]))
    params = sorted(c for c in table.columns if c.startswith("param "))
    rest = [c for c in table.columns if c not in first + folds + params]
    return table[first + folds + params + rest]


def _last_fold(rec: dict[str, Any]) -> str:
    folds = [int(k[4:]) for k in rec if re.fullmatch(r"fold\d+", k)]
    return str(max(folds)) if folds else "?"


def _fmt(value: Any) -> str:
    return f"{value:.5f}" if isinstance(value, float) else str(value)


def _overrides_text(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in values.items())


def _history_plot(table: pd.DataFrame, metric: str, path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    done = table[table["state"] == "COMPLETE"] if "state" in table else table.iloc[:0]
    if metric in table and len(done):
        ax.plot(done["trial"], done[metric], "o", label=f"complete: OOF {metric}")
        best = done[metric].cummin()
        ax.step(done["trial"], best, where="post", label="best so far")
    pruned = table[table["state"] == "PRUNED"] if "state" in table else table.iloc[:0]
    if len(pruned):
        ax.plot(pruned["trial"], [np.nan] * len(pruned) if metric not in pruned else pruned[metric], "x")
        for _, row in pruned.iterrows():
            ax.axvline(row["trial"], color="0.85", lw=0.8, zorder=0)
        ax.plot([], [], "|", color="0.7", label="pruned")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"hms tune {name}: {len(table)} trials")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def space_keys(spec: ModelSpec) -> list[str]:
    """The dotted keys a model's search space sets (a trial that samples without running anything)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    return sorted(spec.search_space(trial, spec.config(None, None)).keys()) if spec.search_space else []
