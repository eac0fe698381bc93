"""Client disconnect and graceful shutdown against a running `sieve serve` (a model slow enough to still be
generating after a few tokens, e.g. SmolLM2).

Usage: disconnect_check.py BASE_URL MODEL_ID SERVER_PID
1. Streams a long completion over a raw socket, reads three content chunks, sends a second request (refused with
   429 when the server runs one slot and no queue), closes the connection and polls GET /health until the slot is
   free again.
2. Streams another long completion with the openai client, sends SIGTERM to the server after three chunks and
   reads on until the stream ends (finished, or an error event when the deadline cancelled it).
Prints one JSON object; the Swift test asserts on it.
"""
import http.client
import json
import os
import signal
import sys
import time
import urllib.parse

import openai

base, model, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlparse(base)
out = {}


def health():
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", "/health")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


request = {"model": model, "messages": [{"role": "user", "content": "Write a very long story about a lighthouse."}],
           "max_tokens": 1500, "ignore_eos": True, "temperature": 0.7, "seed": 3, "stream": True}

# 1. Disconnect mid-stream.
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
conn.request("POST", "/v1/chat/completions", body=json.dumps(request), headers={"Content-Type": "application/json"})
response = conn.getresponse()
assert response.status == 200, response.status
chunks = 0
while chunks < 3:
    line = response.fp.readline()
    if not line:
        break
    if line.startswith(b"data: {") and b'"content":"' in line and b'"content":""' not in line:
        chunks += 1
busy_before = health()["slots_busy"]
# The one slot is busy and the queue holds nothing (--max-queue 0): another request is refused with 429.
busy = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
busy.request("POST", "/v1/chat/completions", body=json.dumps(dict(request, stream=False, max_tokens=4)),
             headers={"Content-Type": "application/json"})
refused = busy.getresponse()
out["busy_status"] = refused.status
out["busy_error"] = json.loads(refused.read()).get("error")
busy.close()
conn.sock.shutdown(2)
conn.close()
left = time.perf_counter()
state = health()
while state["slots_busy"] > 0 and time.perf_counter() - left < 10:
    time.sleep(0.05)
    state = health()
out.update({"chunks_read": chunks, "slots_busy_before": busy_before, "seconds_to_free": time.perf_counter() - left,
            "slots_busy": state["slots_busy"], "cancelled": state["requests_cancelled"],
            "generated_tokens": state["generated_tokens"]})

# 2. SIGTERM while streaming.
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
stream = client.chat.completions.create(model=model, messages=request["messages"], max_tokens=1500, temperature=0.7,
                                        seed=4, stream=True, extra_body={"ignore_eos": True})
seen, sent_at, ended, error = 0, None, False, None
try:
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen += 1
            if seen == 3 and sent_at is None:
                os.kill(pid, signal.SIGTERM)
                sent_at = time.perf_counter()
    ended = True
except openai.APIError as e:  # the error event sent when the deadline cancelled the request
    ended, error = True, str(e)
except Exception as e:  # noqa: BLE001 - a dropped connection is a failure to report
    error = f"{type(e).__name__}: {e}"
out.update({"shutdown_stream_ended": ended, "shutdown_error": error,
            "shutdown_stream_seconds": time.perf_counter() - sent_at if sent_at else None})
print(json.dumps(out))
