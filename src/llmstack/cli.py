"""llmstack: validate, size, render and check llm-stack releases; add-on values; load tests; the local demo.

Exit codes: 0 success; 1 the input was read and found wanting (validation errors, a failed SLO, schema
problems); 2 the command could not run (bad arguments, missing files or tools, helm or locust failed)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import yaml

from llmstack import helm, manifests
from llmstack.paths import PROFILES, crds_dir

DEFAULT_KUBE_VERSION = "1.35.0"
OK, FOUND_PROBLEMS, CANNOT_RUN = 0, 1, 2


class UsageError(Exception):
    """A problem with what the user asked for: printed without a traceback, exit 2."""


def _render_text(args: argparse.Namespace) -> str:
    return helm.template(args.values, release=args.release, namespace=args.namespace,
                         kube_version=args.kube_version,
                         api_versions=helm.OPTIONAL_API_VERSIONS if args.with_crds else ())


def cmd_render(args: argparse.Namespace) -> int:
    text = _render_text(args)
    if args.summary:
        print(manifests.summary(manifests.parse(text)))
    elif args.output_dir:
        for path in manifests.write_split(manifests.parse(text), args.output_dir):
            print(path)
    else:
        sys.stdout.write(text)
    return OK


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
    return OK if report.ok else FOUND_PROBLEMS


def _model_configs(pairs: list[str]) -> dict:
    from llmstack import sizing

    configs = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"validate: --model-config takes NAME=path/to/config.json, got {pair!r}")
        try:
            configs[name] = sizing.load_config(Path(path))
        except (OSError, ValueError) as err:
            raise UsageError(f"validate: --model-config {pair}: {err}") from None
    return configs


def cmd_validate(args: argparse.Namespace) -> int:
    from llmstack.validate import validate

    if not args.values:
        raise UsageError("validate: give at least one values file with -f")
    report = validate(args.values, args.kube_version, set_values=args.set, set_string=args.set_string,
                      release=args.release, namespace=args.namespace, configs=_model_configs(args.model_config),
                      server=args.dry_run, kube_context=args.kube_context, kubeconfig=args.kubeconfig)
    if args.output == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for finding in report.errors + report.warnings:
            print(finding)
        if report.server_check:
            print(f"server-side dry-run: {report.server_check}")
        print(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) in {', '.join(report.files)}")
    if report.errors or (args.strict and report.warnings):
        return FOUND_PROBLEMS
    return OK


def cmd_size(args: argparse.Namespace) -> int:
    from llmstack import sizing
    from llmstack.validate import model_estimate

    rows = []
    if args.values:
        for model in _rendered_models(args.values):
            sized = model_estimate(model)
            rows.append((model.name, sized[1] if sized else None))
    else:
        arch = None
        if args.config:
            arch = sizing.load_config(args.config)
        elif args.model:
            known = sizing.known_model(args.model)
            if not known:
                raise UsageError(f"size: {args.model!r} is not in llmstack's table ({', '.join(sizing.KNOWN_MODELS)}):"
                                 " give --config path/to/config.json or --params")
            arch = known[1]
        elif not args.params:
            raise UsageError("size: give --model NAME, --config config.json or --params COUNT (e.g. 70B)")
        try:
            est = sizing.estimate(gpu=args.gpu, max_model_len=args.max_model_len, arch=arch,
                                  parameters=sizing.parse_count(args.params) if args.params and not arch else None,
                                  dtype=args.dtype, quantization=args.quantization, kv_cache_dtype=args.kv_cache_dtype,
                                  tensor_parallel=args.tp, pipeline_parallel=args.pp,
                                  gpu_memory_utilization=args.gpu_memory_utilization, gpu_share=args.gpu_share)
        except ValueError as err:
            raise UsageError(f"size: {err}") from None
        rows.append((args.model or args.config or args.params, est))
    if args.output == "json":
        print(json.dumps([{"model": str(n), **(e.as_dict() if e else {"sized": False})} for n, e in rows], indent=2))
    for name, est in rows if args.output == "text" else ():
        if est is None:
            print(f"{name}: not sized (model or GPU type unknown to llmstack: use llmstack size --config/--gpu)")
            continue
        kv = f", KV {est.kv_per_token_per_gpu_kib:.0f} KiB/token/GPU" if est.kv_per_token_per_gpu_kib else ""
        print(f"{name}: {est.parameters / 1e9:.2f}B parameters, weights {est.weights_gib:.1f} GiB "
              f"({est.weights_per_gpu_gib:.1f} GiB per GPU){kv}; {est.gpu} ({est.gpu_memory_gib:.0f} GiB"
              + (f", a {est.gpu_share:g} share" if est.gpu_share < 1 else "") + ", "
              f"{est.usable_gib:.1f} usable): KV cache {est.kv_cache_per_gpu_gib:.1f} GiB per GPU"
              + (f" = {est.kv_tokens} tokens" if est.kv_tokens is not None else "")
              + f" -> {'FITS' if est.fits else 'DOES NOT FIT'}: {est.reason}")
    return OK if all(e is None or e.fits for _, e in rows) else FOUND_PROBLEMS


def _usable_files(files: list[Path]) -> None:
    """An unusable values file (missing, not YAML, not a mapping) is a usage error."""
    from llmstack.values import Report, load_files

    report = Report(files=[str(f) for f in files])
    if load_files(files, report) is None:
        raise UsageError("; ".join(str(f) for f in report.errors))


def _rendered_models(files: list[Path]) -> list:
    """Each model's facts as the chart renders them (optional CRD groups served, so KEDA shows)."""
    _usable_files(files)
    return manifests.model_facts(manifests.parse(helm.template(files, api_versions=helm.OPTIONAL_API_VERSIONS)))


def cmd_addons(args: argparse.Namespace) -> int:
    from llmstack import addons
    from llmstack.values import coalesced

    models = _rendered_models(args.values)
    wanted = addons.for_release(coalesced(args.values), models, args.prometheus_url)
    if args.action == "values":
        for name, values in wanted.items():
            text = addons.header(name) + yaml.safe_dump(values, sort_keys=False, width=120)
            if args.output_dir:
                args.output_dir.mkdir(parents=True, exist_ok=True)
                (args.output_dir / f"{name}.yaml").write_text(text)
                print(args.output_dir / f"{name}.yaml")
            else:
                print("---\n" + text, end="")
        return OK
    from llmstack.addons_install import install

    return install(wanted, kubeconfig=args.kubeconfig, kube_context=args.kube_context, dry_run=args.dry_run)


def cmd_loadtest(args: argparse.Namespace) -> int:
    from llmstack.loadtest import report
    from llmstack.loadtest.run import Options, run

    try:
        slos = [report.parse_slo(s) for s in args.slo]
    except ValueError as err:
        raise UsageError(f"loadtest: {err}") from None
    duration = args.duration
    if args.shape:
        kind, _, numbers = args.shape.partition(":")
        parts = numbers.split(",")
        if kind not in ("step", "ramp") or len(parts) != {"step": 5, "ramp": 2}[kind]:
            raise UsageError("loadtest: --shape is step:START,STEP,EVERY_S,MAX,DURATION_S or ramp:MAX,DURATION_S")
        duration = float(parts[-1])
    opts = Options(url=args.url, models=args.model, key=args.key, users=args.users, duration_s=duration,
                   api=args.api, stream_share=args.stream_share, prompt_words=args.prompt_words,
                   max_tokens=args.max_tokens, shape=args.shape, slos=slos, out=args.out)
    # `kill` stops the load as Ctrl-C does: locust runs in its own session and must not outlive this process
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        summary, checks, files = run(opts, progress=lambda m: print(m, file=sys.stderr))
    except RuntimeError as err:
        raise UsageError(f"loadtest: {err}") from None
    print(report.text_summary(summary, checks))
    print(f"report: {args.out / 'report.md'} ({len(files)} files)")
    return OK if all(c["ok"] for c in checks) else FOUND_PROBLEMS


def cmd_crds(args: argparse.Namespace) -> int:
    from llmstack import crds

    if args.where:
        print(crds.find())
        return OK
    folder = crds.install(args.output_dir, download=args.download)
    print(f"KubeRay v{crds.KUBERAY_VERSION} CRDs (sha256 verified): {folder}")
    return OK


def cmd_demo(args: argparse.Namespace) -> int:
    from llmstack import demo

    return demo.up(foreground=args.foreground, loadtest_s=args.loadtest) if args.action == "up" else demo.down()


def _values_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("-f", "--values", action="append", type=Path, default=[], required=required,
                   help=f"values file (repeatable, later files win); profiles are in {PROFILES}")


def _release_args(p: argparse.ArgumentParser) -> None:
    _values_args(p)
    p.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION, help="Kubernetes version to render for")
    p.add_argument("--release", default="llm", help="release name")
    p.add_argument("-n", "--namespace", default="llm", help="release namespace")
    p.add_argument("--with-crds", action="store_true",
                   help="render as for a cluster serving the optional CRD groups (prometheus-operator, "
                        "Gateway API, KEDA)")


def build_parser() -> argparse.ArgumentParser:
    from llmstack import sizing

    parser = argparse.ArgumentParser(prog="llmstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = command("validate", cmd_validate, "check values files: the chart's schema, its rules (via helm) and "
                "sizing; every error names the key and the fix")
    _values_args(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a value as helm's --set takes it (repeatable; Terraform `set` blocks)")
    p.add_argument("--set-string", action="append", default=[], metavar="KEY=VALUE",
                   help="a string value as helm's --set-string takes it (repeatable)")
    p.add_argument("--release", default="llm", help="the release name (object names are checked with it)")
    p.add_argument("-n", "--namespace", default="llm", help="the release namespace")
    p.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION, help="Kubernetes version to render for")
    p.add_argument("--dry-run", choices=("auto", "local", "cluster", "off"), default="auto",
                   help="server-side dry-run of the rendered objects: a throwaway local API server (local; auto "
                        "when `make cluster-tools` built one) or your cluster (cluster; auto with --kube-context)")
    p.add_argument("--kube-context", help="dry-run against this context of your kubeconfig")
    p.add_argument("--kubeconfig", type=Path, help="kubeconfig for --kube-context (default: $KUBECONFIG)")
    p.add_argument("--model-config", action="append", default=[], metavar="NAME=CONFIG_JSON",
                   help="a model's config.json, for the engine checks and sizing of models llmstack does not know")
    p.add_argument("--output", choices=("text", "json"), default="text", help="report format")
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")

    p = command("size", cmd_size, "GPU memory per replica: weights, KV cache, the batch that fits")
    _values_args(p)
    p.add_argument("--model", help=f"a known model ({', '.join(sizing.KNOWN_MODELS)}) or its hf:// source")
    p.add_argument("--config", type=Path, help="the model's config.json")
    p.add_argument("--params", help="parameter count, e.g. 70B (weights only: no KV sizing without a config)")
    p.add_argument("--gpu", default="H100-80GB", choices=list(sizing.GPUS), help="GPU type")
    p.add_argument("--dtype", default="bfloat16", help="weights dtype")
    p.add_argument("--quantization", help="quantization method (fp8, awq, gptq, int8, ...)")
    p.add_argument("--kv-cache-dtype", help="KV cache dtype (auto or fp8)")
    p.add_argument("--max-model-len", type=int, default=8192, help="context length")
    p.add_argument("--tp", type=int, default=1, help="tensor parallel size")
    p.add_argument("--pp", type=int, default=1, help="pipeline parallel size")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vLLM's share of GPU memory")
    p.add_argument("--gpu-share", type=float, default=1.0,
                   help="a replica's share of one GPU (engine ray: 0.5, 0.25...; its memory is that share)")
    p.add_argument("--output", choices=("text", "json"), default="text", help="report format")

    p = command("render", cmd_render, "render the llm-stack chart with the project's helm (YAML, one file per "
                "object, or --summary)")
    _release_args(p)
    p.add_argument("--summary", action="store_true", help="print what would be installed, not YAML")
    p.add_argument("--output-dir", type=Path, help="write one file per object here")

    p = command("check", cmd_check, "render, then validate every object against the Kubernetes, KubeRay and "
                "Ray Serve schemas")
    _release_args(p)

    p = command("addons", cmd_addons, "values for the upstream add-on charts the release needs (kuberay-operator, "
                "prometheus-adapter or KEDA, ingress-nginx, Grafana), or install them")
    p.add_argument("action", choices=("values", "install"))
    _values_args(p)
    p.add_argument("--prometheus-url", default="http://prometheus-operated.monitoring.svc",
                   help="Prometheus that prometheus-adapter reads")
    p.add_argument("--output-dir", type=Path, help="values: write <addon>.yaml files here instead of stdout")
    p.add_argument("--kubeconfig", type=Path, help="install: kubeconfig (default: helm's)")
    p.add_argument("--kube-context", help="install: kube context (default: the current one)")
    p.add_argument("--dry-run", action="store_true", help="install: print the helm releases, change nothing")

    p = command("loadtest", cmd_loadtest, "locust load on an OpenAI-compatible endpoint: TTFT, inter-token and "
                "E2E latency, tokens/s, errors; SLO verdict; JSON/CSV/Markdown report with plots")
    p.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--model", action="append", required=True, help="model id (repeatable: users alternate)")
    p.add_argument("--key", default="", help="API key (Bearer)")
    p.add_argument("--users", type=int, default=4, help="concurrent users (fixed load)")
    p.add_argument("--duration", type=float, default=30, help="seconds of load (fixed load)")
    p.add_argument("--shape", default="", help="step:START,STEP,EVERY_S,MAX,DURATION_S or ramp:MAX,DURATION_S")
    p.add_argument("--api", choices=("chat", "completions", "both"), default="chat")
    p.add_argument("--stream-share", type=float, default=0.5, help="share of streaming requests (0-1)")
    p.add_argument("--prompt-words", default="uniform:4-24", help="prompt length: N, uniform:A-B, normal:MEAN,SD")
    p.add_argument("--max-tokens", default="32", help="output tokens: N, uniform:A-B, normal:MEAN,SD")
    p.add_argument("--slo", action="append", default=[], help="e.g. ttft_p95=500ms, e2e_p99=5s, error_rate=1%%")
    p.add_argument("--out", type=Path, default=Path("loadtest-report"), help="report folder")

    p = command("crds", cmd_crds, "install the pinned KubeRay CRDs that `check` validates against: from the "
                "ray-operator Go module (needs Go), or --download from the release tag; sha256-checked")
    p.add_argument("--download", action="store_true", help="download the release files instead of using Go")
    p.add_argument("--output-dir", type=Path, help="where to put them (default: .tools/crds in a checkout, "
                   "else the user cache)")
    p.add_argument("--where", action="store_true", help="print the folder of the installed CRDs and exit")

    p = command("demo", cmd_demo, "the local end-to-end demo: Ray Serve + vLLM (CPU) on a tiny model, the "
                "gateway, Prometheus, a load test")
    p.add_argument("action", choices=("up", "down"))
    p.add_argument("--foreground", action="store_true", help="up: stay until Ctrl-C, then stop everything")
    p.add_argument("--loadtest", type=float, default=20, help="up: seconds of load test (0 = none)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except helm.HelmError as err:
        print(f"llmstack: helm failed:\n{err}", file=sys.stderr)
    except (UsageError, FileNotFoundError, yaml.YAMLError) as err:
        print(f"llmstack: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("llmstack: interrupted", file=sys.stderr)
    return CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
