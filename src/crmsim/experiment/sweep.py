"""Parameter sweeps: a grid of scenario variants, each run with common random numbers.

A *setting* names one field of the scenario by a dotted path and gives it a value:

* list items are addressed by their ``id`` — ``policies.<id>``, ``nodes.<id>``,
  ``disruptions.<id>``, ``materials.<id>`` — and edges by ``edges.<from>-><to>``;
* plain fields and nested mappings by name: ``horizon_days``,
  ``policies.stockpile_usa_90d.stockpile.days_of_cover``,
  ``nodes.smelter_chn.capacity``, ``experiment.confidence``.

:func:`set_fields` applies settings to a (frozen) scenario by dumping it to a mapping,
setting the values and validating the mapping again through crmsim's own loader
(:func:`crmsim.scenario.scenario_from_dict`), so a bad value is refused with the same
problem text as in a file, and an unknown path with the valid names and a did-you-mean.
This is the one home of the mechanism; :mod:`crmsim.experiment.sensitivity` uses it too.

:func:`run_sweep` runs every point of the Cartesian product of the settings' values with
the **same seed and replications** (common random numbers: replication ``r`` of every
grid point sees the same demand and disruption draws), so differences between grid points
are paired by replication. Each point is compared with the first grid point or, when a
policy is applied (``policy=``), with the baseline (no policy) at the same grid point.
"""

from __future__ import annotations

import difflib
import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crmsim.metrics.stats import t_interval
from crmsim.scenario.schema import Scenario

__all__ = [
    "SWEEP_DICTIONARY",
    "SettingError",
    "SweepRun",
    "check_policy_settings",
    "parse_values",
    "run_sweep",
    "set_fields",
    "simulate_variant",
    "sweep",
    "write_tables",
]

#: Metrics summarised per grid point and market (direction: +1 higher is better).
SWEEP_METRICS: dict[str, int] = {
    "fill_rate": +1,
    "unmet": -1,
    "nadir": +1,
    "resilience_loss": -1,
}

#: Lists of the scenario addressed by item id in a dotted path.
_ID_LISTS = ("materials", "nodes", "disruptions", "policies", "edges")


class SettingError(ValueError):
    """A setting (``--set``/``--vary`` path or value) that cannot be applied.

    The message names the setting, the field in the scenario (and, when the scenario file
    is known, its line), what is wrong and what would be valid; it is meant for the user.

    Attributes
    ----------
    path : tuple
        Keys and list indices of the deepest part of the setting found in the scenario.
    """

    def __init__(self, message: str, path: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.path = tuple(path)


class _Locator:
    """Lines and columns of the fields of a scenario file."""

    def __init__(self, source: str | Path) -> None:
        from crmsim.scenario.loader import PositionIndex, parse_yaml

        self.file = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
            _, self.index, _ = parse_yaml(text, self.file)
        except (OSError, UnicodeDecodeError):
            self.index = PositionIndex()

    def where(self, path: Sequence[Any]) -> tuple[int | None, int | None]:
        return self.index.locate(path, key=True)


# --------------------------------------------------------------------------- dotted paths


def _item_id(item: Any, list_name: str) -> str | None:
    if not isinstance(item, dict):
        return None
    if list_name == "edges":
        return f"{item.get('from')}->{item.get('to')}"
    value = item.get("id")
    return None if value is None else str(value)


def _close(word: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _resolve(data: dict[str, Any], path: str, what: str) -> tuple[Any, Any, list[Any]]:
    """Walk ``path`` in the dumped scenario: (container, key, loader path of the field)."""
    from crmsim.scenario.errors import format_path
    from crmsim.scenario.loader import _keys_of, _model_at

    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise SettingError(f"{what} {path!r}: a setting is a dotted path such as "
                           "policies.<id>.stockpile.days_of_cover")  # fmt: skip
    cur: Any = data
    trail: list[Any] = []
    shown: list[str] = []  # the trail as the user wrote it (items by id)
    i = 0
    while i < len(parts):
        where = ".".join(shown) or format_path(())
        if isinstance(cur, list):
            list_name = str(trail[-1]) if trail else ""
            ids = [_item_id(item, list_name) or "" for item in cur]
            # Ids may contain '.': take the longest run of parts that is an id.
            for j in range(len(parts), i, -1):
                candidate = ".".join(parts[i:j])
                if candidate in ids:
                    break
            else:
                noun = "edge from->to" if list_name == "edges" else "id"
                raise SettingError(
                    f"{what} {path}: {where} has no item with {noun} {parts[i]!r}"
                    f"{_close(parts[i], ids)} (valid: {', '.join(ids) or 'none'})",
                    trail,
                )
            idx = ids.index(candidate)
            if j == len(parts):
                raise SettingError(
                    f"{what} {path}: names a whole item of {where}, not one field; add the "
                    f"field, e.g. {path}.capacity",
                    [*trail, idx],
                )
            trail.append(idx)
            shown.append(candidate)
            cur = cur[idx]
            i = j
            continue
        if not isinstance(cur, dict):
            raise SettingError(
                f"{what} {path}: {where} is a single value ({cur!r}), it has no field {parts[i]!r}"
            )
        part = parts[i]
        model = _model_at(trail)
        valid = list(_keys_of(model)) if model is not None else list(cur)
        if model is not None and not trail:
            valid = [k for k in valid if k != "crmsim"]
        if part not in cur and part not in valid:
            raise SettingError(
                f"{what} {path}: {where} has no field {part!r}{_close(part, valid)} "
                f"(valid: {', '.join(valid) or 'none'})",
                trail,
            )
        if part in _ID_LISTS and not trail and i == len(parts) - 1:
            raise SettingError(
                f"{what} {path}: {part} is a list; name an item by id and a field, e.g. "
                f"{part}.<id>.<field>"
            )
        if i == len(parts) - 1:
            return cur, part, [*trail, part]
        if part not in cur or cur[part] is None:
            cur[part] = {}
        trail.append(part)
        shown.append(part)
        cur = cur[part]
        i += 1
    raise AssertionError("unreachable")  # pragma: no cover


def _coerce(value: Any, trail: Sequence[Any]) -> Any:
    """A float for a whole-number field becomes the nearest int (sampled inputs)."""
    from crmsim.scenario.loader import _candidates, _type_at

    if isinstance(value, float) and not isinstance(value, bool) and math.isfinite(value):
        kinds = set(_candidates(_type_at(trail)))
        if int in kinds and float not in kinds:
            return round(value)
    return value


def set_fields(
    scenario: Scenario,
    values: Mapping[str, Any],
    *,
    what: str = "--set",
    source: str | Path | None = None,
) -> Scenario:
    """A copy of ``scenario`` with fields set by dotted path, validated again.

    Parameters
    ----------
    scenario : Scenario
        The scenario (not modified).
    values : mapping of str to Any
        Dotted path → value (see the module docstring for paths). A float given to a
        whole-number field is rounded to the nearest integer.
    what : str
        How the settings are named in messages (``--set``, ``--vary``).
    source : str or Path, optional
        The file the scenario was loaded from: messages then give the line and column
        of the field in it (or of its nearest parent, for a field the file leaves out).

    Returns
    -------
    Scenario
        The modified scenario, validated like a file.

    Raises
    ------
    SettingError
        An unknown path (with the valid names and a did-you-mean) or a value the scenario
        schema or checks refuse (the field, the problem and what would be valid).

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> s = load_scenario("scenarios/tutorial.yaml")
    >>> set_fields(s, {"horizon_days": 100}).horizon_days
    100
    >>> try:
    ...     set_fields(s, {"horizon_dayz": 100})
    ... except SettingError as err:
    ...     print(str(err).split(" (valid")[0])
    --set horizon_dayz: (top level) has no field 'horizon_dayz'; did you mean 'horizon_days'?
    """
    from crmsim.scenario import Problem, ScenarioError, scenario_from_dict
    from crmsim.scenario.errors import format_path

    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    locator = _Locator(source) if source is not None else None
    fields: dict[str, str] = {}
    for path, value in values.items():
        try:
            container, key, trail = _resolve(data, path, what)
        except SettingError as exc:
            if locator is None:
                raise
            line, col = locator.where(exc.path)
            where = Problem("", (), locator.file, line, col).location
            msg, prefix = str(exc), f"{what} {path}: "
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
            raise SettingError(f"{prefix}{where}: {msg}", exc.path) from None
        container[key] = _coerce(value, trail)
        fields[format_path(trail)] = f"{what} {path}={value}"
    try:
        return scenario_from_dict(data)
    except ScenarioError as exc:
        lines = []
        for p in exc.problems:
            by = fields.get(p.field_path) or next(
                (s for f, s in fields.items() if p.field_path.startswith(f)),
                ", ".join(fields.values()),
            )
            if locator is not None:
                p = p.located(locator.file, *locator.where(p.path))
                lines.append(f"{by}: {p}")
                continue
            text = f"{by}: {p.field_path}: {p.message}"
            if p.value is not ... and "(got" not in p.message:
                text += f" (got {p.value!r})"
            if p.hint:
                text += f"; {p.hint}"
            lines.append(text)
        raise SettingError("\n".join(lines)) from None


def parse_values(text: str) -> list[Any]:
    """Comma-separated values as YAML scalars (``4,8`` → ``[4, 8]``).

    Examples
    --------
    >>> parse_values("4, 8.5,true,abc")
    [4, 8.5, True, 'abc']
    """
    import yaml

    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(yaml.safe_load(part))
        except yaml.YAMLError:
            out.append(part)
    return out


def check_policy_settings(scenario: Scenario, paths: Sequence[str], policy: str | None) -> None:
    """Refuse a ``policies.<id>`` setting whose policy is not applied (it changes nothing).

    Raises
    ------
    SettingError
        Naming the policy and how to apply it.
    """
    from crmsim.policy import BASELINE, apply_policies

    applied: set[str] = set()
    if policy is not None and policy != BASELINE:
        try:
            applied = set(apply_policies(scenario, policy).policies)
        except ValueError as exc:
            raise SettingError(f"--policy {policy}: {exc}") from None
    ids = sorted((p.id for p in scenario.policies), key=len, reverse=True)
    for path in paths:
        if not path.startswith("policies."):
            continue
        rest = path[len("policies.") :]
        pid = next((i for i in ids if rest == i or rest.startswith(i + ".")), None)
        if pid is not None and pid not in applied:
            raise SettingError(
                f"{path}: policy {pid!r} is not applied, so this setting changes nothing; "
                f"apply it with --policy {pid} (or a combination such as {pid}+other)"
            )


# --------------------------------------------------------------------------- simulation


def simulate_variant(
    scenario: Scenario,
    policy: str | None,
    replications: int,
    seed: int,
    *,
    workers: int | None = 1,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """R replications of a scenario (with a policy applied) as a long table.

    Parameters
    ----------
    scenario : Scenario
        The scenario (fields already set).
    policy : str or None
        Policy combination to apply (``a+b``); None or ``baseline``: none.
    replications, seed : int
        The same for every variant of an experiment (common random numbers).
    workers : int or None
        Worker processes; results do not depend on it.
    progress : callable, optional
        Called with the number of replications just finished.

    Returns
    -------
    pandas.DataFrame
        One row per (replication, market) as in
        :attr:`crmsim.experiment.compare.ExperimentRun.replications`, without costs.
    """
    from crmsim.experiment.compare import run_experiment
    from crmsim.policy import BASELINE, apply_policies

    target = scenario
    if policy is not None and policy != BASELINE:
        target = apply_policies(scenario, policy).scenario
    run = run_experiment(
        target, [], replications, seed, workers=workers, flow_replications=0, progress=progress
    )
    cols = [c for c in run.replications.columns if not c.startswith("cost_") and c != "variant"]
    return run.replications[cols]


@dataclass(frozen=True, eq=False)
class SweepRun:
    """A grid of scenario variants run with common random numbers.

    Attributes
    ----------
    scenario : Scenario
        The scenario swept (not modified).
    settings : dict
        Dotted path → values, in the order given; the grid is their Cartesian product.
    policy : str or None
        Policy combination applied at every grid point (None: none).
    points : pandas.DataFrame
        One row per grid point: ``point`` and one column per setting.
    replications : pandas.DataFrame
        One row per (point, variant, replication, market): ``variant`` is the policy
        (or ``baseline``), then the market metrics.
    table : pandas.DataFrame
        Per (point, market, metric): mean and t-interval, and the paired difference
        against the reference (:func:`sweep` returns it).
    n_replications, seed : int
        The same at every grid point.
    confidence : float
        Level of the intervals.
    reference : str
        ``first grid point`` or ``baseline``.
    seconds : float
        Wall time.
    """

    scenario: Scenario
    settings: dict[str, list[Any]]
    policy: str | None
    points: pd.DataFrame
    replications: pd.DataFrame
    table: pd.DataFrame
    n_replications: int
    seed: int
    confidence: float
    reference: str
    seconds: float


def _interval(x: np.ndarray, c: float, bounds: tuple[float, float] | None) -> tuple[float, ...]:
    return t_interval(x, c, bounds) if x.size > 1 else (float(x.mean()), math.nan, math.nan)


def run_sweep(
    scenario: Scenario,
    settings: Mapping[str, Sequence[Any]],
    policy: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = 1,
    *,
    confidence: float | None = None,
    progress: Callable[[int], None] | None = None,
    start: Callable[[int], None] | None = None,
    source: str | Path | None = None,
) -> SweepRun:
    """Run every grid point over the same replications and summarise per market.

    Parameters
    ----------
    scenario : Scenario
        The scenario to sweep (not modified).
    settings : mapping of str to sequence
        Dotted path → values (see :func:`set_fields`); the grid is the Cartesian
        product, the first setting varying slowest.
    policy : str, optional
        Policy combination applied at every grid point; the reference is then the
        baseline at the same grid point. Without it, the first grid point.
    replications : int, optional
        Replications per grid point (default ``experiment.replications``).
    seed : int, optional
        Root seed, the same at every grid point (default ``experiment.seed``).
    workers : int or None
        Worker processes (None = all cores); results do not depend on it.
    confidence : float, optional
        Level of the t-intervals (default ``experiment.confidence``).
    progress : callable, optional
        Called with the number of replications just finished.
    start : callable, optional
        Called once, before simulating, with the total number of replications.
    source : str or Path, optional
        The scenario's file, so that a bad value is reported with its line.

    Returns
    -------
    SweepRun

    Raises
    ------
    SettingError
        A bad path or value (every grid point is built before anything is simulated).
    """
    from crmsim.policy import BASELINE

    t0 = time.perf_counter()
    names = list(settings)
    grid_values = [list(settings[n]) for n in names]
    if not names:
        raise SettingError("--set: give at least one setting, e.g. --set horizon_days=100,200")
    for n, vals in zip(names, grid_values, strict=True):
        if not vals:
            raise SettingError(f"--set {n}: give at least one value")
    if policy == BASELINE:
        policy = None
    check_policy_settings(scenario, names, policy)
    R = int(replications if replications is not None else scenario.experiment.replications)
    seed = int(seed if seed is not None else scenario.experiment.seed)
    if R < 1:
        raise ValueError(f"replications must be at least 1, not {R}")
    c = float(scenario.experiment.confidence if confidence is None else confidence)
    combos = list(itertools.product(*grid_values))
    variants = [
        set_fields(scenario, dict(zip(names, combo, strict=True)), source=source)
        for combo in combos
    ]
    if policy is not None:
        from crmsim.policy import apply_policies

        for v in variants:
            try:
                apply_policies(v, policy)
            except ValueError as exc:
                raise SettingError(f"--policy {policy}: {exc}") from None
    # The baseline ignores the policies list, so grid points that differ only in policy
    # fields share one baseline run.
    base_keys: list[Scenario] = []
    base_of: list[int] = []
    for v in variants:
        key = v.model_copy(update={"policies": ()})
        if policy is None or key not in base_keys:
            base_keys.append(key)
        base_of.append(base_keys.index(key) if policy is not None else len(base_keys) - 1)
    if start is not None:
        start(R * (len(variants) + (len(base_keys) if policy is not None else 0)))
    frames = []
    base_frames: dict[int, pd.DataFrame] = {}
    for p, v in enumerate(variants):
        if policy is not None and base_of[p] not in base_frames:
            base_frames[base_of[p]] = simulate_variant(
                v, None, R, seed, workers=workers, progress=progress
            )
        if policy is not None:
            frames.append(base_frames[base_of[p]].assign(point=p, variant=BASELINE))
        df = simulate_variant(v, policy, R, seed, workers=workers, progress=progress)
        frames.append(df.assign(point=p, variant=policy or BASELINE))
    long = pd.concat(frames, ignore_index=True)
    long = long[["point", "variant", *[c for c in long.columns if c not in ("point", "variant")]]]
    points = pd.DataFrame([{"point": p, **dict(zip(names, combo, strict=True))}
                           for p, combo in enumerate(combos)])  # fmt: skip
    table = _summarise(long, points, names, variants, policy, c)
    return SweepRun(
        scenario=scenario,
        settings={n: list(v) for n, v in zip(names, grid_values, strict=True)},
        policy=policy,
        points=points,
        replications=long,
        table=table,
        n_replications=R,
        seed=seed,
        confidence=c,
        reference="baseline" if policy is not None else "first grid point",
        seconds=time.perf_counter() - t0,
    )


def _summarise(
    long: pd.DataFrame,
    points: pd.DataFrame,
    names: list[str],
    variants: list[Scenario],
    policy: str | None,
    c: float,
) -> pd.DataFrame:
    from crmsim.policy import BASELINE

    shown = policy or BASELINE
    rows = []
    for p, v in enumerate(variants):
        H = float(v.horizon_days)
        mine = long[(long.point == p) & (long.variant == shown)]
        if policy is not None:
            ref = long[(long.point == p) & (long.variant == BASELINE)]
        else:
            ref = long[(long.point == 0) & (long.variant == BASELINE)]
        for market, g in mine.groupby("market", sort=True):
            g = g.sort_values("replication")
            r = ref[ref.market == market].sort_values("replication")
            for metric in SWEEP_METRICS:
                x = g[metric].to_numpy(dtype=float)
                mean_bounds = {"fill_rate": (0.0, 1.0), "nadir": (0.0, 1.0),
                               "resilience_loss": (0.0, H), "unmet": (0.0, math.inf)}  # fmt: skip
                diff_bounds = {"fill_rate": (-1.0, 1.0), "nadir": (-1.0, 1.0),
                               "resilience_loss": (-H, H)}  # fmt: skip
                mean, low, high = _interval(x, c, mean_bounds[metric])
                row = {
                    "point": p,
                    **{n: points.loc[p, n] for n in names},
                    "market": market,
                    "material": g["material"].iloc[0],
                    "unit": g["unit"].iloc[0],
                    "variant": shown,
                    "metric": metric,
                    "mean": mean,
                    "low": low,
                    "high": high,
                }
                if len(r) == len(g) and (r["replication"].to_numpy() ==
                                         g["replication"].to_numpy()).all():  # fmt: skip
                    d = x - r[metric].to_numpy(dtype=float)
                    dm, dl, dh = _interval(d, c, diff_bounds.get(metric))
                    row.update(
                        reference="baseline" if policy is not None else "point 0",
                        diff_mean=dm,
                        diff_low=dl,
                        diff_high=dh,
                        diff_sd=float(d.std(ddof=1)) if d.size > 1 else math.nan,
                    )
                else:  # the market does not exist at the reference point
                    row.update(reference="", diff_mean=math.nan, diff_low=math.nan,
                               diff_high=math.nan, diff_sd=math.nan)  # fmt: skip
                row["n"] = int(x.size)
                rows.append(row)
    return pd.DataFrame(rows)


def sweep(
    scenario: Scenario,
    settings: Mapping[str, Sequence[Any]],
    policy: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = 1,
    *,
    confidence: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Sweep a grid of settings with common random numbers; one row per point, market, metric.

    Parameters
    ----------
    scenario : Scenario
        The scenario to sweep.
    settings : mapping of str to list
        Dotted path → values, e.g. ``{"nodes.rec.capacity": [4, 8]}``; the grid is the
        Cartesian product.
    policy : str, optional
        Policy combination applied at every point; differences are then against the
        baseline at the same point, otherwise against the first grid point.
    replications, seed : int, optional
        The same at every point (default: the scenario's ``experiment``).
    workers : int or None
        Worker processes; results do not depend on it.
    confidence : float, optional
        Level of the t-intervals (default ``experiment.confidence``).
    progress : callable, optional
        Called with the number of replications just finished.

    Returns
    -------
    pandas.DataFrame
        Columns ``point``, one per setting, ``market, material, unit, variant, metric,
        mean, low, high, reference, diff_mean, diff_low, diff_high, diff_sd, n``.

    Examples
    --------
    >>> from crmsim import load_scenario
    >>> s = load_scenario("scenarios/tutorial.yaml")
    >>> t = sweep(s, {"horizon_days": [100, 200]}, replications=2)
    >>> t.columns[:4].tolist()
    ['point', 'horizon_days', 'market', 'material']
    """
    return run_sweep(
        scenario, settings, policy, replications, seed, workers,
        confidence=confidence, progress=progress,
    ).table  # fmt: skip


# --------------------------------------------------------------------------- writing

#: Column meanings and units of the tables written by ``crmsim sweep``.
SWEEP_DICTIONARY: dict[str, dict[str, tuple[str, str]]] = {
    "points": {
        "point": ("grid point number (0 = first value of every setting)", ""),
        "<setting>": ("one column per --set path: the value at this grid point", "field's"),
    },
    "replications": {
        "point": ("grid point number", ""),
        "variant": ("the policy applied, or baseline", ""),
        "replication": ("replication number r (the same r sees the same random draws)", ""),
        "market": ("market node id; '(all)' = all markets (only when they share a unit)", ""),
        "material": ("material the market demands", ""),
        "unit": ("unit of the market's material", ""),
        "demand": ("demand over the scored horizon", "unit"),
        "served": ("demand served on the day it arose", "unit"),
        "unmet": ("demand lost or back-ordered", "unit"),
        "fill_rate": ("served ÷ demand", "fraction 0–1"),
        "nadir": ("lowest daily performance served(t) ÷ demand(t)", "fraction 0–1"),
        "resilience_loss": ("Σ_t (1 − performance(t)) over the scored days", "days"),
        "resilience_index": ("1 − resilience_loss ÷ horizon", "fraction 0–1"),
    },
    "sweep": {
        "point": ("grid point number", ""),
        "<setting>": ("one column per --set path: the value at this grid point", "field's"),
        "market": ("market node id or '(all)'", ""),
        "material": ("material the market demands", ""),
        "unit": ("unit of the market's material", ""),
        "variant": ("the policy applied, or baseline", ""),
        "metric": ("fill_rate, unmet, nadir or resilience_loss", ""),
        "mean": ("mean of the metric over replications", "metric"),
        "low": ("lower limit of the t-based interval of mean", "metric"),
        "high": ("upper limit of the t-based interval of mean", "metric"),
        "reference": ("what the difference is against: point 0, or baseline", ""),
        "diff_mean": ("mean paired difference against the reference", "metric"),
        "diff_low": ("lower limit of the t-based interval of diff_mean", "metric"),
        "diff_high": ("upper limit of the t-based interval of diff_mean", "metric"),
        "diff_sd": ("standard deviation of the paired differences", "metric"),
        "n": ("replications", "count"),
    },
}


def _dictionary(spec: Mapping[str, Mapping[str, tuple[str, str]]],
                tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:  # fmt: skip
    rows = []
    for t, cols in spec.items():
        df = tables.get(t)
        for col, (meaning, unit) in cols.items():
            if col == "<setting>" and df is not None:
                known = set(cols)
                rows += [{"table": t, "column": c, "meaning": meaning, "unit": unit}
                         for c in df.columns if c not in known]  # fmt: skip
            elif df is None or col in df.columns:
                rows.append({"table": t, "column": col, "meaning": meaning, "unit": unit})
    return pd.DataFrame(rows)


def write_tables(
    out: str | Path,
    tables: Mapping[str, pd.DataFrame],
    dictionary: Mapping[str, Mapping[str, tuple[str, str]]],
    manifest: Mapping[str, Any],
    *,
    scenario_file: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write tables (Parquet and CSV), ``data_dictionary`` and ``manifest.json``.

    Parameters
    ----------
    out : str or Path
        Output directory; it must not exist unless ``overwrite``.
    tables : mapping of str to DataFrame
        Table name → table.
    dictionary : mapping
        Table → column → (meaning, unit); a ``<setting>`` entry stands for every column
        of that table not otherwise listed.
    manifest : mapping
        Entries of the manifest (command, seed, settings, ...).
    scenario_file : str or Path, optional
        The scenario file, whose SHA-256 is recorded.
    overwrite : bool
        Replace the files of an existing directory.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    FileExistsError
        ``out`` exists and ``overwrite`` is false.
    """
    import json
    import platform
    from datetime import UTC, datetime

    from crmsim import __version__
    from crmsim.experiment.io import file_sha256

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; use --overwrite or another --out")
    out.mkdir(parents=True, exist_ok=True)
    all_tables = {**tables, "data_dictionary": _dictionary(dictionary, tables)}
    files: dict[str, str] = {}
    for name, df in all_tables.items():
        df = df.copy()
        df.columns = [str(c) for c in df.columns]
        df.to_csv(out / f"{name}.csv", index=False)
        df.to_parquet(out / f"{name}.parquet", index=False)
        files[f"{name}.parquet"] = files[f"{name}.csv"] = f"{len(df)} rows"
    full = {
        "crmsim_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **manifest,
        "scenario_file": str(scenario_file) if scenario_file else None,
        "scenario_sha256": file_sha256(scenario_file) if scenario_file else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "files": files,
    }
    from crmsim.experiment.io import readme_text

    files["README.md"] = "what this folder holds: its files and every column (this file)"
    full["files"] = files
    text = json.dumps(full, indent=2, default=str) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    command = str(manifest.get("command", "sweep"))
    about = [
        f"Results of `crmsim {command}` of *{manifest.get('scenario', '')}*"
        f" (seed {manifest.get('seed', '–')}, {manifest.get('replications', '–')} "
        "replications per point)."
    ]
    readme = readme_text(
        f"crmsim {command} results",
        about,
        all_tables["data_dictionary"],
        {**files, "manifest.json": "what produced the numbers"},
    )
    (out / "README.md").write_text(readme, encoding="utf-8")
    return json.loads(text)
