"""`llmstack`: render a profile, summarise it and check it against the real schemas."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmstack import helm, manifests
from llmstack.paths import PROFILES, crds_dir

DEFAULT_KUBE_VERSION = "1.35.0"


def _render_text(args: argparse.Namespace) -> str:
    return helm.template(args.values, release=args.release, namespace=args.namespace,
                         kube_version=args.kube_version,
                         api_versions=helm.OPTIONAL_API_VERSIONS if args.with_crds else ())


def cmd_render(args: argparse.Namespace) -> int:
    text = _render_text(args)
    if args.summary:
        print(manifests.summary(manifests.parse(text)))
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from llmstack.check import check_manifests
    from llmstack.crd_schema import load_crds

    objs = manifests.parse(_render_text(args))
    report = check_manifests(objs, args.kube_version, load_crds(crds_dir()))
    print(manifests.summary(objs))
    checked = ", ".join(f"{n} by {v}" for v, n in sorted(report.checked.items()))
    print(f"checked for Kubernetes {args.kube_version}: {checked}")
    for name in report.unchecked:
        print(f"not checked (no schema here for this custom kind): {name}")
    for problem in report.problems:
        print(f"ERROR {problem}", file=sys.stderr)
    print("OK" if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("render", cmd_render, "render the llm-stack chart with the project's helm (YAML, or --summary)"),
        ("check", cmd_check, "render, then validate every object against the Kubernetes, KubeRay and Ray Serve "
                             "schemas"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("-f", "--values", action="append", type=Path, default=[],
                       help=f"values file (repeatable); profiles are in {PROFILES}")
        p.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION, help="Kubernetes version to render for")
        p.add_argument("--release", default="llm", help="release name")
        p.add_argument("-n", "--namespace", default="llm", help="release namespace")
        p.add_argument("--with-crds", action="store_true",
                       help="render as for a cluster serving the optional CRD groups (prometheus-operator, "
                            "Gateway API, KEDA)")
        if name == "render":
            p.add_argument("--summary", action="store_true", help="print what would be installed, not YAML")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except helm.HelmError as err:
        print(f"llmstack: helm failed:\n{err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"llmstack: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
