"""`llm-gateway`: serve, check a config, hash an API key for the keys Secret."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_gateway import config as config_mod
from llm_gateway.keys import KeyFileError, KeyStore, hash_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, required=True, help="the gateway's YAML config file")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--no-access-log", action="store_true", help="do not write JSON access logs to stdout")
    check = sub.add_parser("check-config", help="validate a config file (and its keys file), then exit")
    check.add_argument("--config", type=Path, required=True)
    hashing = sub.add_parser("hash-key", help="print the sha256 of an API key (read from stdin when not given)")
    hashing.add_argument("key", nargs="?")
    args = parser.parse_args(argv)

    if args.command == "hash-key":
        key = args.key if args.key is not None else sys.stdin.readline().strip()
        if not key:
            print("llm-gateway: empty key", file=sys.stderr)
            return 2
        print(hash_key(key))
        return 0
    try:
        cfg = config_mod.load(args.config)
        keys = KeyStore(cfg.keys_file)
    except (config_mod.ConfigError, KeyFileError) as err:
        print(f"llm-gateway: invalid config: {err}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(f"ok: {len(cfg.routes)} route(s), {len(keys)} key(s)")
        return 0
    from llm_gateway.app import serve as run

    run(args.config, args.host, args.port, access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
