#!/usr/bin/env python3
"""Bounded load test of a running `sieve serve` with the official `openai` client.

  python3 tools/serve_load.py http://127.0.0.1:8080 MODEL_ID [--requests 200] [--concurrency 8]
      [--max-tokens 16] [--stream-every 2] [--deadline 120] [--json]

Each of --concurrency threads sends chat completions (every --stream-every-th one streamed) until --requests
have been sent; prompts vary per request. Prints latency percentiles, request and token throughput and the
server's own per-request decode speeds (the `sieve` extension field); exits 1 when any request failed or the
run took longer than --deadline seconds.
"""
import argparse
import json
import sys
import threading
import time

import openai


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("model")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--stream-every", type=int, default=2, help="stream every Nth request (0: never)")
    ap.add_argument("--deadline", type=float, default=120)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    lock = threading.Lock()
    next_index = [0]
    results = []  # (latency s, completion tokens, decode tok/s or None, ttft s or None)
    failures = []
    client = openai.OpenAI(base_url=args.base_url.rstrip("/") + "/v1", api_key="unused", max_retries=0,
                           timeout=args.deadline)

    def worker():
        while True:
            with lock:
                i = next_index[0]
                if i >= args.requests:
                    return
                next_index[0] += 1
            messages = [{"role": "user", "content": f"Request {i}: write a line about the number {i * 7919 % 1000}."}]
            stream = args.stream_every > 0 and i % args.stream_every == 0
            start = time.perf_counter()
            try:
                if stream:
                    tokens, ttft, sieve = 0, None, None
                    for chunk in client.chat.completions.create(
                            model=args.model, messages=messages, max_tokens=args.max_tokens, temperature=0.8,
                            seed=i, stream=True, stream_options={"include_usage": True}):
                        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
                            ttft = time.perf_counter() - start
                        if chunk.usage is not None:
                            tokens = chunk.usage.completion_tokens
                        if chunk.choices and chunk.choices[0].finish_reason:
                            sieve = (chunk.model_extra or {}).get("sieve")
                    if sieve is None:
                        raise RuntimeError("stream ended without a finish chunk")
                else:
                    r = client.chat.completions.create(model=args.model, messages=messages, max_tokens=args.max_tokens,
                                                       temperature=0.8, seed=i)
                    tokens, ttft, sieve = r.usage.completion_tokens, None, (r.model_extra or {}).get("sieve")
                latency = time.perf_counter() - start
                with lock:
                    results.append((latency, tokens, (sieve or {}).get("decode_tokens_per_second"), ttft))
            except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(f"request {i}: {type(error).__name__}: {error}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.deadline + 30)
    wall = time.perf_counter() - started

    latencies = sorted(r[0] for r in results)
    ttfts = sorted(r[3] for r in results if r[3] is not None)
    decode = [r[2] for r in results if r[2]]
    tokens = sum(r[1] for r in results)
    report = {
        "requests": args.requests, "concurrency": args.concurrency, "max_tokens": args.max_tokens,
        "succeeded": len(results), "failed": len(failures), "failures": failures[:10],
        "wall_seconds": wall, "requests_per_second": len(results) / wall if wall > 0 else 0,
        "completion_tokens": tokens, "completion_tokens_per_second": tokens / wall if wall > 0 else 0,
        "latency_p50": percentile(latencies, 50), "latency_p90": percentile(latencies, 90),
        "latency_p99": percentile(latencies, 99), "latency_max": latencies[-1] if latencies else float("nan"),
        "ttft_p50": percentile(ttfts, 50), "ttft_p90": percentile(ttfts, 90),
        "server_decode_tokens_per_second_mean": sum(decode) / len(decode) if decode else 0,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['succeeded']}/{args.requests} requests ok, {report['failed']} failed, "
              f"{args.concurrency} clients, max_tokens {args.max_tokens}, {wall:.1f} s")
        print("| latency p50 | p90 | p99 | max | TTFT p50 (streamed) | requests/s | completion tokens/s | server decode tokens/s per request |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {report['latency_p50'] * 1000:.0f} ms | {report['latency_p90'] * 1000:.0f} ms | "
              f"{report['latency_p99'] * 1000:.0f} ms | {report['latency_max'] * 1000:.0f} ms | "
              f"{report['ttft_p50'] * 1000:.0f} ms | {report['requests_per_second']:.1f} | "
              f"{report['completion_tokens_per_second']:.1f} | {report['server_decode_tokens_per_second_mean']:.1f} |")
        for f in failures[:10]:
            print("  " + f, file=sys.stderr)
    return 0 if not failures and len(results) == args.requests and wall <= args.deadline else 1


if __name__ == "__main__":
    sys.exit(main())
