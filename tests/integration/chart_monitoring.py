"""The chart's monitoring objects as the tests read them (monitoring_test.py here, and
tests/e2e/kafkacluster_test.py): rendered with `helm template`, the PrometheusRule's rule file
extracted, the dashboards' JSON, and the metric names a PromQL expression reads.

  render(*helm_args)             the chart's objects with the monitoring values on
  rule_file(path, *helm_args)    the PrometheusRule's spec written to `path` as a Prometheus
                                 rule file (what promtool and a plain Prometheus read)
  dashboards(*helm_args)         {file name: dashboard JSON} of the grafana_dashboard ConfigMaps
  expressions(*helm_args)        [(where, PromQL)] of every alert and dashboard query
  metric_names(expr)             the metric names an expression selects
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from kube import kube_bin  # noqa: E402

CHART = Path(__file__).resolve().parents[2] / "charts" / "tributary"
ENABLED = ("--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboards.enabled=true",
           "--set", "metrics.podMonitor.enabled=true")


def render(*helm_args):
    out = subprocess.run([str(kube_bin("helm")), "template", "rel", str(CHART), *ENABLED, *helm_args],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(f"helm template failed: {out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def rule_file(path, *helm_args):
    (rule,) = [d for d in render(*helm_args) if d["kind"] == "PrometheusRule"]
    Path(path).write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    return Path(path)


def dashboards(*helm_args):
    import json
    out = {}
    for d in render(*helm_args):
        if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            for name, text in d["data"].items():
                out[name] = json.loads(text)
    return out


def _panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from _panels(p)  # rows hold panels of their own


def expressions(*helm_args):
    (rule,) = [d for d in render(*helm_args) if d["kind"] == "PrometheusRule"]
    out = [(f"alert {r['alert']}", r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]
    for name, d in dashboards(*helm_args).items():
        for p in _panels(d):
            out += [(f"{name}: {p['title']}", t["expr"]) for t in p.get("targets", [])]
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                out.append((f"{name}: variable {v['name']}", v["definition"]))
    return out


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan"}


def metric_names(expr):
    """The metric names `expr` selects: identifiers left once strings, label matchers, ranges,
    grouping clauses and Grafana variables are taken out, that are neither a function call
    nor a keyword. label_values(metric, label) (a Grafana variable query) names its metric."""
    lv = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*,\s*\w+\s*\)\s*", expr)
    if lv:
        return {lv.group(1)}
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", e):
        if e[m.end():].lstrip().startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def published_names(text):
    """Names of the samples in Prometheus text (a histogram's _bucket, _sum, _count)."""
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][\w:]*)[{ ]", text, re.M)}
