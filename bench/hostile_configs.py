"""Hostile configuration files: the cases of ``tests/test_config_fuzz.py`` and ``bench/fuzz_config.py``.

Every case starts from the repository's example site (``guardian.yaml``, ``zones/*.yaml``,
``rules/*.yaml``) and replaces ONE of its files: the site file, ``zones/pool.yaml`` or
``rules/pool.yaml``. :func:`cases` gives

* hand-written cases for every item of issue 14 (YAML bombs, huge and deep files, NUL
  bytes, unknown tags, ``.inf`` / ``1e300`` / ``99999999999999999999d`` durations and
  numbers, supervised mode past 24 h, message templates that fail or blow up, a top-level
  key of the wrong type, missing weights, a database path that is a folder, empty rule
  files): each must give a problem naming the file and line;
* systematic mutations of the example files (every scalar replaced in turn by a wrong type,
  ``.inf``, ``.nan``, -1, a huge number, a NUL, a very long text; keys deleted, unknown keys
  added, lists where mappings belong and the reverse): each must give clear problems or
  load (a harmless mutation), never a traceback, a hang or a memory blow-up.

Pure functions, no test data under ``guardian/``; :func:`materialise` writes one case.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

REPO = Path(__file__).resolve().parent.parent
Which = Literal["site", "zones", "rules"]
#: where each kind of case writes its text, relative to the site folder
TARGET: dict[Which, str] = {
    "site": "guardian.yaml",
    "zones": "zones/pool.yaml",
    "rules": "rules/pool.yaml",
}


@dataclass(frozen=True)
class Case:
    """One hostile file: its name, which file of the example site it replaces, its content.

    ``must_fail``: a hand-written case that must give a problem in the file (a mutation
    may also load, when what it changed was harmless).
    """

    name: str
    which: Which
    text: str | bytes
    must_fail: bool = True

    @property
    def heavy(self) -> bool:
        """A case that would eat time or memory if its bound regressed: run it in a
        subprocess with limits, never inside the test process."""
        return self.name.startswith(HEAVY)


#: name prefixes of the resource cases (bombs, huge, deep, many values)
HEAVY = (
    "billion-laughs",
    "merge-key-bomb",
    "recursive-anchor",
    "deep-",
    "alias-chain",
    "huge-file",
    "many-",
    "long-line",
    "rule-file-dev-zero",
    "template-huge",
    "escalate-message-huge",
)


def example(which: Which) -> str:
    return (REPO / TARGET[which]).read_text(encoding="utf-8")


def materialise(case: Case, folder: Path) -> Path:
    """Copy the example site into ``folder`` with the case's file replaced; the site file."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "guardian.yaml", folder / "guardian.yaml")
    for sub in ("zones", "rules"):
        shutil.copytree(REPO / sub, folder / sub, dirs_exist_ok=True)
    target = folder / TARGET[case.which]
    if isinstance(case.text, bytes):
        target.write_bytes(case.text)
    else:
        target.write_text(case.text, encoding="utf-8")
    return folder / "guardian.yaml"


# --------------------------------------------------------------------------- hand-written


def _laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['lol0: &l0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"lol{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3}"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*m{i - 1}"] * width)
        lines.append(f"m{i}: &m{i} {{<<: [{refs}], k{i}: 1}}")
    return "\n".join(lines) + "\n"


def _replace(which: Which, old: str, new: str) -> str:
    text = example(which)
    if old not in text:
        raise ValueError(f"{old!r} is not in {TARGET[which]}")
    return text.replace(old, new, 1)


RULE_HEAD = "rules:\n"
TEMPLATE_RULE = (
    "rules:\n  - id: tpl\n    triggers: [{{kind: zone_enter, zones: water}}]\n"
    "    actions:\n      - kind: alert\n        message: {message}\n"
)


def _rule(body: str) -> str:
    """rules/pool.yaml with one more rule (``body``: its lines after ``- id: ...``)."""
    return _replace("rules", RULE_HEAD, RULE_HEAD + body)


def _template(message: str) -> str:
    return _replace("rules", RULE_HEAD, TEMPLATE_RULE.format(message=message))


def hand_written() -> list[Case]:
    site, zones, rules = "site", "zones", "rules"
    laughs = _laughs()
    out: list[Case] = [
        # YAML bombs and sizes, in each kind of file
        Case("billion-laughs-site", site, laughs),
        Case("billion-laughs-zones", zones, laughs),
        Case("billion-laughs-rules", rules, laughs),
        Case(
            "billion-laughs-in-value",
            site,
            _replace(
                site, "storage:\n", "junk:\n  " + laughs.replace("\n", "\n  ") + "\nstorage:\n"
            ),
        ),
        Case("merge-key-bomb", site, _merge_bomb()),
        Case("recursive-anchor", site, _replace(site, "storage:\n", "x: &x [*x]\nstorage:\n")),
        Case("recursive-anchor-map", rules, "rules: &r\n  - id: a\n    more: *r\n"),
        Case("deep-lists-10000", site, "junk: " + "[" * 10000 + "]" * 10000 + "\n"),
        Case("deep-lists-unclosed", site, "junk: " + "[" * 100000 + "\n"),
        Case(
            "deep-maps-block",
            site,
            "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",
        ),
        Case("deep-flow-maps", zones, "zones: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n"),
        Case(
            "alias-chain-depth",
            site,
            "".join(
                f"a{i}: &a{i} [[[[[*a{i - 1}]]]]]\n" if i else "a0: &a0 [1]\n" for i in range(60)
            ),
        ),
        Case("huge-file-comments", site, example(site) + ("# " + "x" * 98 + "\n") * 26000),
        Case("huge-file-50mb", site, "# " + "x" * (50 * 1000 * 1000) + "\n"),
        Case("many-values", site, "junk: [" + ",".join(["1"] * 400_000) + "]\n"),
        Case("many-keys", rules, "rules: []\n" + "".join(f"k{i}: {i}\n" for i in range(120_000))),
        Case(
            "long-line",
            site,
            "site: {name: '" + "x" * 1_500_000 + "'}\ncameras: [{id: a, source: 0}]\n",
        ),
        # NUL and control characters
        Case("nul-byte-raw", site, _replace(site, "name: Home pool", "name: Home\x00pool")),
        Case("nul-escaped-name", site, _replace(site, "name: Home pool", 'name: "Home\\0pool"')),
        Case(
            "nul-escaped-source",
            site,
            _replace(site, "source: rtsp://192.168.1.20:554/stream1", 'source: "pool\\0.mp4"'),
        ),
        Case(
            "nul-escaped-database",
            site,
            _replace(site, "database: guardian.db", 'database: "x\\0.db"'),
        ),
        Case("nul-zone-name", zones, _replace(zones, "- name: water\n", '- name: "wa\\0ter"\n')),
        Case("nul-rule-message", rules, _template('"a\\0b"')),
        Case(
            "bell-char-raw",
            zones,
            _replace(zones, "description: Pool basin", "description: Pool\x07basin"),
        ),
        Case(
            "not-utf8",
            site,
            _replace(site, "name: Home pool", "name: Home pool é")
            .encode("utf-8")
            .replace(b"\xc3\xa9", b"\xe9"),
        ),
        Case("binary-garbage", rules, bytes(range(256)) * 4),
        # tags
        Case("unknown-tag-mapping", site, _replace(site, "storage:\n", "storage: !foo\n")),
        Case(
            "unknown-tag-flow-mapping",
            site,
            _replace(
                site,
                "storage:\n  database: guardian.db        # SQLite file holding events\n  clips: clips                 # event clips and snapshots\n  models: models               # where the exported ONNX pose model is cached\n",
                "storage: !foo {database: x.db}\n",
            ),
        ),
        Case(
            "unknown-tag-sequence",
            zones,
            _replace(zones, "polygon: [[0.20, 0.45]", "polygon: !pts [[0.20, 0.45]"),
        ),
        Case(
            "unknown-tag-scalar", site, _replace(site, "name: Home pool", "name: !secret Home pool")
        ),
        Case(
            "python-object-tag",
            site,
            _replace(site, "name: Home pool", "name: !!python/object:os.system ls"),
        ),
        Case("binary-tag", site, _replace(site, "name: Home pool", "name: !!binary aGVsbG8=")),
        Case("set-tag", rules, "rules: !!set {a, b}\n"),
        Case("omap-tag", rules, "rules: !!omap [{a: 1}]\n"),
        Case("int-tag-bad", site, _replace(site, "fps: 10  ", "fps: !!int ten")),
        Case("bool-tag-bad", site, _replace(site, "enabled: false", "enabled: !!bool perhaps")),
        Case("float-tag-bad", site, _replace(site, "confidence: 0.35", "confidence: !!float high")),
        Case(
            "unknown-tag-rule",
            rules,
            _replace(rules, "  - id: submersion\n", "  - !rule\n    id: submersion\n"),
        ),
        # numbers that are not finite, or absurd
        Case("fps-inf", site, _replace(site, "fps: 10  ", "fps: .inf")),
        Case("fps-nan", site, _replace(site, "fps: 10  ", "fps: .nan")),
        Case("confidence-nan", site, _replace(site, "confidence: 0.35", "confidence: .nan")),
        Case("confidence-text-nan", site, _replace(site, "confidence: 0.35", "confidence: 'nan'")),
        Case("max-lost-inf", site, _replace(site, "max_lost: 2.0", "max_lost: .inf")),
        Case("max-lost-text-inf", site, _replace(site, "max_lost: 2.0", "max_lost: 'inf'")),
        Case("max-lost-overflow", site, _replace(site, "max_lost: 2.0", "max_lost: 1.0e+999")),
        Case("fps-huge-int", site, _replace(site, "fps: 10  ", "fps: " + "9" * 400)),
        Case("match-accept-inf", site, _replace(site, "accept: 0.45", "accept: .inf")),
        Case(
            "px-inf",
            zones,
            _replace("zones", "polygon: [[0.20, 0.45]", "units: px\n    polygon: [[.inf, 0.45]"),
        ),
        Case(
            "px-boundary-inf",
            zones,
            "zones:\n  - {name: f, camera: gate, kind: boundary, units: px, polygon: [[0, .inf], [1280, 380], [1280, 720]]}\n",
        ),
        Case(
            "px-nan",
            zones,
            "zones:\n  - {name: f, camera: gate, kind: boundary, units: px, polygon: [[0, .nan], [1280, 380], [1280, 720]]}\n",
        ),
        Case(
            "px-huge",
            zones,
            "zones:\n  - {name: f, camera: gate, kind: boundary, units: px, polygon: [[0, 1.0e+300], [1280, 380], [1280, 720]]}\n",
        ),
        Case(
            "px-text-inf",
            zones,
            "zones:\n  - {name: f, camera: gate, kind: boundary, units: px, polygon: [[0, 'inf'], [1280, 380], [1280, 720]]}\n",
        ),
        Case("fraction-inf", zones, _replace(zones, "[[0.20, 0.45]", "[[-.inf, 0.45]")),
        # durations
        Case("timeout-inf", rules, _replace(rules, "timeout: 15s", "timeout: .inf")),
        Case("timeout-1e300", rules, _replace(rules, "timeout: 15s", "timeout: 1e300")),
        Case("timeout-1e300-float", rules, _replace(rules, "timeout: 15s", "timeout: 1.0e+300")),
        Case(
            "timeout-huge-days",
            rules,
            _replace(rules, "timeout: 15s", "timeout: 99999999999999999999d"),
        ),
        Case(
            "timeout-huge-int",
            rules,
            _replace(rules, "timeout: 15s", "timeout: 99999999999999999999"),
        ),
        Case("timeout-2d", rules, _replace(rules, "timeout: 15s", "timeout: 2d")),
        Case("timeout-nan", rules, _replace(rules, "timeout: 15s", "timeout: .nan")),
        Case("timeout-true", rules, _replace(rules, "timeout: 15s", "timeout: true")),
        Case("cooldown-inf", rules, _replace(rules, "cooldown: 2m", "cooldown: .inf")),
        Case("cooldown-30d", rules, _replace(rules, "cooldown: 2m", "cooldown: 30d")),
        Case(
            "occupancy-for-huge", rules, _replace(rules, "for: 10s ", "for: 99999999999999999999d ")
        ),
        Case("escalate-after-2d", rules, _replace(rules, "after: 30s", "after: 2d")),
        Case("record-clip-pre-inf", rules, _replace(rules, "pre: 20s", "pre: .inf")),
        Case(
            "supervised-for-inf", site, _replace(site, "supervised_for: 2h", "supervised_for: .inf")
        ),
        Case(
            "supervised-for-48h", site, _replace(site, "supervised_for: 2h", "supervised_for: 48h")
        ),
        Case(
            "supervised-for-huge",
            site,
            _replace(site, "supervised_for: 2h", "supervised_for: 99999999999999999999d"),
        ),
        Case("schedule-for-48h", site, _replace(site, "      for: 2h\n", "      for: 48h\n")),
        Case(
            "prompt-expires-1e300",
            site,
            _replace(site, "prompt_expires: 10m", "prompt_expires: 1.0e+300"),
        ),
        Case("retention-inf", site, _replace(site, "max_age: 30d", "max_age: .inf")),
        Case("retention-2y", site, _replace(site, "max_age: 30d", "max_age: 800d")),
        Case(
            "health-offline-huge",
            site,
            _replace(site, "offline_after: 20s", "offline_after: 99999999999999999999d"),
        ),
        Case("keep-down-inf", site, _replace(site, "keep_down: 30s", "keep_down: .inf")),
        Case("on-site-for-huge", site, _replace(site, "on_site_for: 15m", "on_site_for: 1.0e+300")),
        Case("transit-inf", site, _replace(site, "transit: [3s, 1m]", "transit: [3s, .inf]")),
        Case(
            "set-mode-48h",
            rules,
            _rule(
                "  - id: sm\n    triggers: [{kind: zone_enter, zones: water}]\n    actions: [{kind: set_mode, mode: supervised, for: 48h}]\n"
            ),
        ),
        Case(
            "set-mode-inf",
            rules,
            _rule(
                "  - id: sm\n    triggers: [{kind: zone_enter, zones: water}]\n    actions: [{kind: set_mode, mode: supervised, for: .inf}]\n"
            ),
        ),
        Case(
            "prompt-yes-48h",
            rules,
            _rule(
                "  - id: pr\n    triggers: [{kind: zone_enter, zones: water}]\n    actions: [{kind: prompt, question: Supervise?, yes: {mode: supervised, for: 48h}}]\n"
            ),
        ),
        Case(
            "prompt-expires-2d",
            rules,
            _rule(
                "  - id: pr\n    triggers: [{kind: zone_enter, zones: water}]\n    actions: [{kind: prompt, question: Supervise?, expires: 2d}]\n"
            ),
        ),
        # message templates
        Case("template-time-d", rules, _template('"{time:d}"')),
        Case("template-huge-width", rules, _template('"{alias:>99999999}"')),
        Case("template-huge-precision", rules, _template('"{message:.99999999}"')),
        Case("template-track-d", rules, _template('"{track:d}"')),
        Case("template-track-x", rules, _template('"{track:x}"')),
        Case("template-attribute", rules, _template('"{alias.upper}"')),
        Case("template-index", rules, _template('"{alias[0]}"')),
        Case("template-positional", rules, _template('"{} and {0}"')),
        Case("template-unmatched", rules, _template('"{alias"')),
        Case("template-unmatched-close", rules, _template('"alias}"')),
        Case("template-nested-unknown", rules, _template('"{alias:{nope}}"')),
        Case("template-nested-huge", rules, _template('"{alias:>{track}}"')),
        Case("template-bad-conversion", rules, _template('"{alias!x}"')),
        Case("template-too-long", rules, _template('"' + "x" * 2000 + '"')),
        Case("template-width-1600-plus", rules, _template('"{alias:>1600} {message}"')),
        Case("template-number", rules, _template("42")),
        Case("template-list", rules, _template("[a, b]")),
        Case(
            "question-time-d",
            rules,
            _rule(
                "  - id: pr\n    triggers: [{kind: zone_enter, zones: water}]\n    actions: [{kind: prompt, question: '{time:d}'}]\n"
            ),
        ),
        Case(
            "escalate-message-huge",
            rules,
            _replace(
                rules,
                "        after: 30s\n",
                "        after: 30s\n        message: '{alias:>99999999}'\n",
            ),
        ),
        # top-level keys of the wrong type, whole files of the wrong shape
        Case(
            "site-zones-5",
            site,
            _replace(
                site,
                "zones:\n  - zones/pool.yaml\n  - zones/boundary.yaml\n  - zones/elevator.yaml\n",
                "zones: 5\n",
            ),
        ),
        Case(
            "site-rules-true",
            site,
            _replace(
                site,
                "rules:\n  - rules/pool.yaml\n  - rules/boundary.yaml\n  - rules/elevator.yaml\n",
                "rules: true\n",
            ),
        ),
        Case("site-cameras-map", site, "cameras: {id: pool, source: 0}\n"),
        Case("site-list", site, "- cameras\n- zones\n"),
        Case("site-scalar", site, "just some text\n"),
        Case("site-empty", site, ""),
        Case("zones-5", zones, "zones: 5\n"),
        Case("zones-true", zones, "zones: true\n"),
        Case("zones-map", zones, "zones: {name: water}\n"),
        Case("zones-list-top", zones, "- name: water\n  camera: pool\n"),
        Case("zones-scalar", zones, "water\n"),
        Case("zones-empty", zones, ""),
        Case("zones-items-scalars", zones, "zones: [1, 2, 3]\n"),
        Case("rules-true", rules, "rules: true\n"),
        Case("rules-5", rules, "rules: 5\n"),
        Case("rules-map", rules, "rules: {id: x}\n"),
        Case("rules-list-top", rules, "- id: x\n  triggers: []\n"),
        Case("rules-scalar", rules, "submersion\n"),
        Case("rules-items-scalars", rules, "rules: [1, true, x]\n"),
        Case("rules-empty", rules, ""),
        Case("rules-blank", rules, "# nothing here yet\n\n"),
        Case("rules-null", rules, "rules:\n"),
        Case(
            "triggers-map",
            rules,
            _replace(
                rules,
                "    triggers:\n      - kind: absent\n",
                "    triggers:\n      kind: absent\n",
            ),
        ),
        Case("duplicate-key", site, _replace(site, "storage:\n", "storage: {}\nstorage:\n")),
        # files the site names
        Case(
            "pose-weights-missing",
            site,
            _replace(site, "  # weights: my-fall.npz", "  weights: my-fall.npz"),
        ),
        Case(
            "database-is-folder", site, _replace(site, "database: guardian.db", "database: rules")
        ),
        Case("database-is-root", site, _replace(site, "database: guardian.db", "database: /")),
        Case("clips-is-file", site, _replace(site, "clips: clips  ", "clips: guardian.yaml")),
        Case("zone-file-is-folder", site, _replace(site, "  - zones/pool.yaml\n", "  - zones\n")),
        Case(
            "rule-file-dev-zero", site, _replace(site, "  - rules/pool.yaml\n", "  - /dev/zero\n")
        ),
        Case("rule-file-is-folder", site, _replace(site, "  - rules/pool.yaml\n", "  - rules\n")),
    ]
    return out


# --------------------------------------------------------------------------- mutations

#: what a scalar is replaced by, in turn
_VALUES: tuple[tuple[str, Any], ...] = (
    ("inf", float("inf")),
    ("nan", float("nan")),
    ("minus-one", -1),
    ("huge", 99999999999999999999),
    ("float-1e300", 1e300),
    ("nul", "a\0b"),
    ("long-text", "x" * 5000),
    ("list", [1, 2]),
    ("map", {"a": 1}),
    ("null", None),
    ("true", True),
    ("text", "banana"),
    ("huge-days", "99999999999999999999d"),
    ("zero", 0),
)


def _walk(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy: Any = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _set(copy[path[0]], path[1:], value)
    return copy


def _delete(data: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        copy: Any = dict(data) if isinstance(data, dict) else list(data)
        del copy[path[0]]
        return copy
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _delete(copy[path[0]], path[1:])
    return copy


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=200)


def _name(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "root"


def mutations(which: Which, per_scalar: int = 1, stride: int = 1) -> list[Case]:
    """Systematic mutations of one example file, deterministic (every ``stride``-th kept)."""
    data = yaml.safe_load(example(which))
    out: list[Case] = []
    turn = 0
    for path, value in _walk(data):
        if not path:
            continue
        if isinstance(value, dict | list):
            if isinstance(value, dict):
                out.append(
                    Case(
                        f"{which}:{_name(path)}:map-as-list",
                        which,
                        _dump(_set(data, path, [value])),
                        False,
                    )
                )
                out.append(
                    Case(
                        f"{which}:{_name(path)}:unknown-key",
                        which,
                        _dump(_set(data, path, {**value, "bogus_key": 1})),
                        False,
                    )
                )
            else:
                out.append(
                    Case(
                        f"{which}:{_name(path)}:list-as-map",
                        which,
                        _dump(_set(data, path, {"x": value})),
                        False,
                    )
                )
            if isinstance(path[-1], str):
                out.append(
                    Case(f"{which}:{_name(path)}:deleted", which, _dump(_delete(data, path)), False)
                )
            continue
        if isinstance(path[-1], str):
            out.append(
                Case(f"{which}:{_name(path)}:deleted", which, _dump(_delete(data, path)), False)
            )
        for _ in range(per_scalar):
            label, replacement = _VALUES[turn % len(_VALUES)]
            turn += 1
            out.append(
                Case(
                    f"{which}:{_name(path)}:{label}",
                    which,
                    _dump(_set(data, path, replacement)),
                    False,
                )
            )
    return out[::stride]


def cases() -> list[Case]:
    """Every case: the hand-written ones, then the mutations of the three example files."""
    found = hand_written()
    found += mutations("site", stride=2)
    found += mutations("zones")
    found += mutations("rules", stride=3)
    names = [c.name for c in found]
    assert len(names) == len(set(names)), "case names must be unique"
    return found


if __name__ == "__main__":
    all_cases = cases()
    print(f"{len(all_cases)} cases ({sum(c.must_fail for c in all_cases)} hand-written)")
