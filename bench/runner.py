"""Runs the measurements of the engine and peer groups: one measurement, or a whole
group (``--only`` for some of it), into one JSON file and one markdown report.

The JSON file holds the machine, the model, the threads, the command and the
options, then each measurement's result under its key, saved after every
measurement (a long run that stops keeps what it measured); ``--report``
prints the tables of an earlier file without measuring.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
from typing import Any, Protocol, cast

from bench import OUT_DIR, catalog
from bench.catalog import Measurement
from bench.context import Context
from bench.report import machine, machine_line, read_json, timed, write_json
from streaminfer.models import resolve_model


class Section(Protocol):
    """What a measurement module provides."""

    def run(self, ctx: Context) -> Any: ...

    def report(self, result: Any) -> str | None: ...


def section(module: str) -> Section:
    return cast(Section, importlib.import_module(f"bench.{module}"))


def parser_for(name: str, measurements: tuple[Measurement, ...], is_group: bool) -> argparse.ArgumentParser:
    """The options of ``name``: the common ones, then every option of its measurements."""
    summary = "\n".join(f"  {m.name:<12} {m.summary}" for m in measurements)
    p = argparse.ArgumentParser(
        prog=f"python -m bench {name}",
        description=f"measures:\n{summary}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default="default", help="known model name or GGUF path (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2, help="for every contender (default: %(default)s)")
    if is_group:
        names = [m.name for m in measurements]
        p.add_argument("--only", nargs="+", choices=names, default=names, help="some of the group")
    p.add_argument("--out", default=f"{name}.json", help="file name under bench/out/ (default: %(default)s)")
    p.add_argument("--report", action="store_true", help="only print the tables of an earlier --out JSON")
    for dest in dict.fromkeys(o for m in measurements for o in m.options):
        flag, kwargs = catalog.OPTIONS[dest]
        p.add_argument(flag, dest=dest, **kwargs)
    return p


def measure(ctx: Context, chosen: tuple[Measurement, ...], out: str, command: str) -> dict[str, Any]:
    """Run ``chosen`` (each result once: ``adhoc`` rides on ``fresh``), saving after each."""
    results: dict[str, Any] = {
        "machine": machine(),
        "model": ctx.model,
        "threads": ctx.threads,
        "command": command,
        "args": vars(ctx.args),
        "load_before": os.getloadavg(),
    }
    try:
        for m in sorted(chosen, key=lambda m: not m.first):
            if m.result_key not in results:
                results[m.result_key] = timed(m.name, functools.partial(section(m.runner_module).run, ctx))
                write_json(out, results)
    finally:
        ctx.close()
    results["load_after"] = os.getloadavg()
    write_json(out, results)
    return results


def render(title: str, results: dict[str, Any], chosen: tuple[Measurement, ...]) -> str:
    out = [
        f"# {title}\n\n{machine_line(results['machine'])}; model {results['model']}; "
        f"{results['threads']} threads\n"
    ]
    for m in chosen:
        if m.result_key in results:
            text = section(m.module).report(results[m.result_key])
            if text is not None:
                out.append(f"## {m.title}\n\n{text}\n")
    if len(out) == 1:
        out.append(f"(no results of {', '.join(m.name for m in chosen)} in this file)\n")
    return "\n".join(out)


def main(name: str, argv: list[str]) -> int:
    """``python -m bench NAME ...`` for a group or one of its measurements."""
    group = catalog.group(name)
    if group is not None:
        measurements, title = catalog.members(name), group.title
    else:
        single = catalog.find(name)
        assert single is not None and single.group, name
        measurements, title = (single,), next(g.title for g in catalog.GROUPS if g.name == single.group)
    args = parser_for(name, measurements, group is not None).parse_args(argv)
    chosen = tuple(m for m in measurements if m.name in getattr(args, "only", [name]))
    if args.report:
        results = read_json(args.out)
    else:
        ctx = Context(args, str(resolve_model(args.model)), tuple(m.name for m in chosen))
        results = measure(ctx, chosen, args.out, " ".join(["python -m bench", name, *argv]))
    print(render(title, results, chosen))
    print(f"JSON: {OUT_DIR / args.out}")
    return 0
