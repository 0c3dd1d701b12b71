"""A stand-in for vLLM's OpenAI server, for the kind e2e suite: no GPU, no model.

The operator runs the engine container as `python3 -m
vllm.entrypoints.openai.api_server --model ... --port 8000 ...`. The image
puts this file at that module path, so it runs instead: it ignores every
argument but --port and --served-model-name and answers what Kubernetes and
the operator ask of an engine: /health (startup, readiness and liveness
probes), /metrics (vLLM's queue gauges, which the autoscaler scrapes) and
/v1/models. Standard library only.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METRICS = """\
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{model_name="{model}"}} 0.0
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="{model}"}} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{model_name="{model}"}} 0.0
"""


def handler_for(model: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            if self.path == "/health":
                self.reply(200, "text/plain", "")
            elif self.path == "/metrics":
                self.reply(200, "text/plain; version=0.0.4", METRICS.format(model=model))
            elif self.path == "/v1/models":
                body = {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "fake-engine"}]}
                self.reply(200, "application/json", json.dumps(body))
            else:
                self.reply(404, "text/plain", "not found\n")

        def reply(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default="fake-engine")
    args, _ignored = parser.parse_known_args(argv)  # vLLM's other flags mean nothing here
    server = ThreadingHTTPServer(("0.0.0.0", args.port), handler_for(args.served_model_name))
    print(f"fake engine serving {args.served_model_name} on :{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
