"""Talks to a running `sieve serve` with the official `openai` package (and raw HTTP for malformed requests).

Usage: openai_client_check.py BASE_URL MODEL_ID
Prints one JSON object with what it observed; the Swift test (SieveServerTests) asserts on it.
"""
import http.client
import json
import sys
import urllib.parse

import openai

base, model = sys.argv[1], sys.argv[2]
url = urllib.parse.urlparse(base)
client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)
out = {"openai_version": openai.__version__}

messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name three colours."}]

# 1. Non-streaming and streaming chat completions with the same seed.
full = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0.9, seed=1234)
out["full_text"] = full.choices[0].message.content
out["full_finish"] = full.choices[0].finish_reason
out["full_object"] = full.object
out["full_usage"] = {"prompt": full.usage.prompt_tokens, "completion": full.usage.completion_tokens,
                     "total": full.usage.total_tokens}
out["full_sieve"] = (full.model_extra or {}).get("sieve")

pieces, finish, sieve, usage, roles = [], None, None, None, []
stream = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0.9, seed=1234,
                                        stream=True, stream_options={"include_usage": True})
for chunk in stream:
    if chunk.usage is not None:
        usage = {"prompt": chunk.usage.prompt_tokens, "completion": chunk.usage.completion_tokens}
    for choice in chunk.choices:
        if choice.delta.role:
            roles.append(choice.delta.role)
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
            sieve = (chunk.model_extra or {}).get("sieve")
out["stream_pieces"] = pieces
out["stream_text"] = "".join(pieces)
out["stream_finish"] = finish
out["stream_usage"] = usage
out["stream_roles"] = roles
out["stream_sieve"] = sieve

# Text completions, streamed and not.
text_full = client.completions.create(model=model, prompt="Once upon a time", max_tokens=16, temperature=0.7, seed=7)
text_stream = client.completions.create(model=model, prompt="Once upon a time", max_tokens=16, temperature=0.7, seed=7,
                                        stream=True)
out["text_full"] = text_full.choices[0].text
out["text_stream"] = "".join(c.choices[0].text for c in text_stream if c.choices)

out["models"] = [m.id for m in client.models.list().data]


# 2. Bad requests, sent raw (status and error object).
def raw(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    return {"status": response.status, "body": parsed}


chat_path = url.path.rstrip("/") + "/v1/chat/completions"
bad = {}
bad["malformed_json"] = raw("POST", chat_path, b'{"model": "x", "messages": [')
bad["missing_messages"] = raw("POST", chat_path, json.dumps({"model": model}).encode())
bad["huge_max_tokens"] = raw("POST", chat_path, json.dumps(
    {"model": model, "messages": messages, "max_tokens": 10**9}).encode())
big = b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": "' + b"a" * (50 << 20) + b'"}]}'
bad["body_50mb"] = raw("POST", chat_path, big)
bad["unknown_model"] = raw("POST", chat_path, json.dumps({"model": "no-such-model", "messages": messages}).encode())
bad["unknown_path"] = raw("GET", url.path.rstrip("/") + "/v1/nothing-here")
out["bad"] = bad

# The openai client sees the same errors as exceptions with the status.
try:
    client.chat.completions.create(model="no-such-model", messages=messages, max_tokens=4)
    out["client_unknown_model"] = None
except openai.APIStatusError as error:
    out["client_unknown_model"] = {"status": error.status_code, "code": error.code}

# 3. Still serving afterwards.
after = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0.9, seed=1234)
out["after_text"] = after.choices[0].message.content
out["health"] = raw("GET", url.path.rstrip("/") + "/health")
print(json.dumps(out))
