"""llm-serving: what an llm-stack model pod runs.

  llm-serving fetch --config /etc/llm-stack/model.json      weights into the cache (init container)
  llm-serving serve --config /etc/llm-stack/model.json      vLLM's OpenAI server on :8000 (engine: vllm)
  llm-serving check-config --config model.json              validate a config and print the engine args
The Ray Serve application (engine: ray) is `llm_serving.ray_app:build_app`, named in serveConfigV2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from llm_serving import config as config_mod
from llm_serving.fetch import FetchError, fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    default_config = os.environ.get("LLM_STACK_CONFIG", "/etc/llm-stack/model.json")
    for name, help_text in (("fetch", "download the model (and adapters) into the cache, once"),
                            ("serve", "fetch, then run vLLM's OpenAI-compatible server"),
                            ("check-config", "validate the config and print the vLLM arguments")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", type=Path, default=Path(default_config),
                       help=f"model config written by the chart (default {default_config})")
        if name == "fetch":
            p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                           help="re-hash a cached copy before trusting it (default: the config's verifyCache)")
        if name == "serve":
            p.add_argument("--host", default="0.0.0.0")
            p.add_argument("--port", type=int, default=8000)
            p.add_argument("extra", nargs=argparse.REMAINDER, help="further vLLM server arguments after --")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_mod.load(args.config)
        if args.command == "check-config":
            print(json.dumps(config.engine_args("<model path>"), indent=1))
            return 0
        if args.command == "fetch":
            print(fetch(config, verify=args.verify))
            return 0
        from llm_serving.standalone import serve

        serve(config, args.host, args.port, [a for a in args.extra if a != "--"])
        return 0
    except config_mod.ConfigError as err:
        print(f"llm-serving: invalid config: {err}", file=sys.stderr)
        return 2
    except FetchError as err:
        print(f"llm-serving: fetch failed: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
