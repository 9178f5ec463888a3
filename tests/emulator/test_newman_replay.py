"""The reference's own Postman collection, replayed by newman against the emulator.

newman is a client nobody here wrote: it runs the collection 2Factor publishes
(``shared/seed/2factor-api.postman_collection.json``; a copy is kept beside this file for
clones without ``shared/``). Every saved example of every request is replayed:

* the example's saved request (``originalRequest``) is sent, its placeholders filled
  (``{{api_key}}`` given to newman with ``--env-var``, ``91XXXXXXXXXX`` numbers made real);
* the one input the example is about is set so that the request produces it (a short number
  for "Invalid Phone Number Length", an unknown key for "Invalid API Key Provided"...: see
  :data:`VARIATIONS`);
* verifications are chained: an AUTOGEN2 request of the same collection goes first and its
  test script hands the session id and OTP to the verification (newman collection
  variables).

Each answer's HTTP status and JSON body (generated values compared by their shape, as in
``test_conformance.py``), and its ``Content-Type`` where the saved headers are clearly the
answer's, must match the example. The test prints ``N of M requests match`` and lists the
examples that no request of the collection can produce, and why, instead of dropping them.

newman comes from the npm registry (``.ci/run`` installs it into ``.ci/node``). The test
uses ``$TWOFACTOR_NEWMAN``, else ``.ci/node/node_modules/.bin/newman``, else ``newman`` on
``PATH``, and is skipped, saying so, when there is none.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from twofactor_notify.emulator import Emulator

from .test_conformance import shape

REPO = Path(__file__).resolve().parents[2]
COLLECTION_FILE = "2factor-api.postman_collection.json"
SHARED_COLLECTION = REPO / ".." / "shared" / "seed" / COLLECTION_FILE
KEPT_COLLECTION = Path(__file__).with_name("reference_collection.json")
NEWMAN_ENV = "TWOFACTOR_NEWMAN"
LOCAL_NEWMAN = REPO / ".ci" / "node" / "node_modules" / ".bin" / "newman"

UNKNOWN_KEY = "00000000-0000-4000-8000-000000000000"
UNKNOWN_SESSION = "6b1f3c1e-0000-4000-8000-000000000000"
#: Real numbers for the collection's placeholder numbers (``91XXXXXXXXXX``, ``+91XXXXXXXXXX``).
NUMBERS = {
    "phone_number": "919876543210",
    "to": "919876543210,918765432109",
    "smsTo": "+919876543210",
}
PLACEHOLDER = re.compile(r"XXXX|YYYY")
API_KEY_NAMES = ("api_key", "apikey")
#: Headers only a request has: saved headers with any of these are a capture of the request
#: (at least in part), so their Content-Type says nothing about the answer.
REQUEST_HEADERS = {"host", "user-agent", "accept", "accept-encoding", "cookie", "cf-visitor"}


@dataclass(frozen=True)
class Variation:
    """The input of a request that makes it produce an example: ``name`` (a path variable or
    a body field) set to ``value``, or left out when ``value`` is ``None``. ``chain``: verify
    an OTP sent just before (``match``: its OTP, ``mismatch``: another, ``used``: its OTP
    once more after a first, matching verification)."""

    name: str
    value: str | None = None
    chain: str | None = None


#: What each example documents, as the input that produces it (``None``: the saved request
#: as it is, placeholders filled).
VARIATIONS: dict[str, Variation | None] = {
    "OTP Sent Successfully": None,
    "Success": None,
    "Send Bulk SMS": None,
    "Invalid Phone Number Length": Variation("phone_number", "98765"),
    "Invalid API Key Provided": Variation("api_key", UNKNOWN_KEY),
    "Invalid OTP value length": Variation("otp_value", "123"),
    "Incorrect OTP Session Id Passed": Variation("otp_session_id", UNKNOWN_SESSION),
    "OTP Matched": Variation("otp_entered_by_user", chain="match"),
    "OTP Mismatched": Variation("otp_entered_by_user", chain="mismatch"),
    "OTP Expired": Variation("otp_entered_by_user", chain="used"),
    # The reference shows only {"Status":"Error","Details":"ERR_DETAILS_GO_HERE"}; without a
    # number the emulator answers "Missing Parameter - to" (test_conformance's reading).
    "Error": Variation("to"),
}
#: The examples no request of the collection can produce, as this test finds them: the
#: AUTOGEN requests carry no OTP, so nothing in them can be "Invalid OTP value length".
#: (test_conformance.py drives those answers through the custom-OTP path instead.)
EXPECTED_UNREPLAYABLE = {
    (f"Send OTP ( {segment} )", "Invalid OTP value length")
    for segment in ("AUTOGEN", "AUTOGEN2", "AUTOGEN3")
}


# ------------------------------------------------------------------ reading the collection


def load_collection() -> dict[str, Any]:
    source = SHARED_COLLECTION if SHARED_COLLECTION.is_file() else KEPT_COLLECTION
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return data


def leaves(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every request item, depth first, in the collection's order."""
    for item in items:
        if "item" in item:
            yield from leaves(item["item"])
        elif "request" in item:
            yield item


@dataclass
class SavedRequest:
    """A saved request taken apart: path (``:name`` segments are variables), inputs, body."""

    method: str
    path: list[str]
    variables: dict[str, str]
    query: list[dict[str, Any]]
    headers: list[dict[str, Any]]
    form: list[dict[str, Any]] | None = None
    json_body: Any = None
    raw: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any], example: dict[str, Any]) -> SavedRequest:
        saved = example.get("originalRequest") or item["request"]
        url = saved["url"]
        if isinstance(url, dict):
            path = list(url.get("path") or [])
            variables = {v["key"]: str(v.get("value", "")) for v in url.get("variable") or []}
            query = list(url.get("query") or [])
        else:  # a plain string: its variables, if any, are in the item's urlObject
            parts = urlsplit(url)
            path = parts.path.split("/")[1:]
            declared = (item["request"].get("urlObject") or {}).get("variable") or []
            variables = {v["key"]: str(v.get("value", "")) for v in declared}
            query = [{"key": k, "value": v} for k, v in parse_qsl(parts.query)]
        request = cls(saved["method"], path, variables, query, list(saved.get("header") or []))
        body = saved.get("body") or {}
        if body.get("mode") == "urlencoded":
            request.form = [dict(f) for f in body.get("urlencoded") or [] if not f.get("disabled")]
        elif body.get("mode") == "raw":
            request.raw = body.get("raw", "")
            try:
                request.json_body = json.loads(request.raw or "")
            except ValueError:
                request.json_body = None
        return request

    def inputs(self) -> set[str]:
        """Names a variation can set: path variables in use and body fields."""
        names = {s[1:] for s in self.path if s.startswith(":")}
        names |= {f["key"] for f in self.form or []}
        if isinstance(self.json_body, dict):
            names |= set(self.json_body)
        return names

    def fill(self) -> None:
        """Put the runner's API key and real numbers where the collection has placeholders."""

        def filled(name: str, value: Any) -> Any:
            if not isinstance(value, str):
                return value
            if name in API_KEY_NAMES:
                return "{{api_key}}"
            if name in NUMBERS and PLACEHOLDER.search(value):
                return NUMBERS[name]
            return value

        self.variables = {k: filled(k, v) for k, v in self.variables.items()}
        for entry in self.form or []:
            entry["value"] = filled(entry["key"], entry.get("value", ""))
        if self.json_body is not None:
            self.json_body = _walk_fill(self.json_body, filled)

    def set(self, name: str, value: str | None) -> None:
        """Set input ``name`` (path variable or body field); ``None`` leaves a field out."""
        if name in self.variables:
            self.variables[name] = "" if value is None else value
        if self.form is not None:
            self.form = [f for f in self.form if f["key"] != name]
            if value is not None:
                self.form.append({"key": name, "value": value, "type": "text"})
        if isinstance(self.json_body, dict) and name in self.json_body:
            if value is None:
                del self.json_body[name]
            else:
                self.json_body[name] = value

    def to_item(self, name: str, item_id: str, base: str, script: list[str]) -> dict[str, Any]:
        """A Postman v2.1 item sending this request to ``base`` (``http://host:port``)."""
        segments = [self.variables.get(s[1:], s) if s.startswith(":") else s for s in self.path]
        parts = urlsplit(base)
        url = {
            "raw": base + "/" + "/".join(segments),
            "protocol": parts.scheme,
            "host": (parts.hostname or "").split("."),
            "port": str(parts.port),
            "path": segments,
            "query": self.query,
        }
        request: dict[str, Any] = {"method": self.method, "header": self.headers, "url": url}
        if self.form is not None:
            request["body"] = {"mode": "urlencoded", "urlencoded": self.form}
        elif self.json_body is not None:
            request["body"] = {"mode": "raw", "raw": json.dumps(self.json_body, indent=2)}
        elif self.raw is not None:
            request["body"] = {"mode": "raw", "raw": self.raw}
        result: dict[str, Any] = {"id": item_id, "name": name, "request": request}
        if script:
            result["event"] = [
                {"listen": "test", "script": {"type": "text/javascript", "exec": script}}
            ]
        return result


def _walk_fill(value: Any, filled: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _walk_fill(v, filled, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_fill(v, filled, key) for v in value]
    return filled(key, value)


# ------------------------------------------------------------------ building the replay


@dataclass
class Replay:
    """The wrapper collection and what each of its items is for."""

    items: list[dict[str, Any]] = field(default_factory=list)
    #: item id -> (request name, example name, saved example)
    targets: dict[str, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)
    #: item id -> what the set-up step is
    setups: dict[str, str] = field(default_factory=dict)
    #: (request name, example name) -> why no request produces it
    unreplayable: dict[tuple[str, str], str] = field(default_factory=dict)
    examples: int = 0

    def collection(self) -> dict[str, Any]:
        return {
            "info": {
                "name": "2Factor reference examples, replayed against the emulator",
                "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
            },
            "item": self.items,
        }


def _chain_script(prefix: str) -> list[str]:
    """The AUTOGEN2 answer's session id and OTP, handed to the verification after it."""
    return [
        "var body = pm.response.json();",
        f"pm.collectionVariables.set('{prefix}_session', body.Details);",
        f"pm.collectionVariables.set('{prefix}_otp', body.OTP);",
        f"pm.collectionVariables.set('{prefix}_wrong', body.OTP === '000000'"
        " ? '111111' : '000000');",
    ]


def build_replay(collection: dict[str, Any], base: str) -> Replay:
    replay = Replay()
    items = list(leaves(collection["item"]))
    autogen2 = next(i for i in items if "AUTOGEN2" in i["request"]["url"])
    autogen2_example = next(e for e in autogen2["response"] if e["code"] == 200)
    for number, item in enumerate(items):
        for index, example in enumerate(item.get("response") or []):
            replay.examples += 1
            key = (item["name"], example["name"])
            if example["name"] not in VARIATIONS:
                replay.unreplayable[key] = "no variation known to produce this example"
                continue
            variation = VARIATIONS[example["name"]]
            request = SavedRequest.of(item, example)
            if variation is not None and variation.name not in request.inputs():
                replay.unreplayable[key] = (
                    f"its request has no {variation.name}: nothing in it can produce this answer"
                )
                continue
            request.fill()
            item_id = f"r{number}-e{index}"
            if variation is not None and variation.chain is not None:
                prefix = f"c{number}_{index}"
                send = SavedRequest.of(autogen2, autogen2_example)
                send.fill()
                if "phone_number" in request.variables:  # VERIFY3: the same number
                    send.set("phone_number", request.variables["phone_number"])
                setup_id = f"{item_id}-send"
                replay.items.append(
                    send.to_item(f"set-up: send for {key}", setup_id, base, _chain_script(prefix))
                )
                replay.setups[setup_id] = f"AUTOGEN2 send before {key}"
                request.set("otp_session_id", "{{" + prefix + "_session}}")
                otp = "{{" + prefix + ("_wrong}}" if variation.chain == "mismatch" else "_otp}}")
                request.set(variation.name, otp)
                if variation.chain == "used":
                    first = copy.deepcopy(request)
                    first_id = f"{item_id}-first"
                    replay.items.append(
                        first.to_item(f"set-up: first verify for {key}", first_id, base, [])
                    )
                    replay.setups[first_id] = f"first, matching verification before {key}"
            elif variation is not None:
                request.set(variation.name, variation.value)
            replay.items.append(request.to_item(f"{key[0]} / {key[1]}", item_id, base, []))
            replay.targets[item_id] = (item["name"], example["name"], example)
    return replay


# ------------------------------------------------------------------ checking the answers


def answer_content_type(example: dict[str, Any]) -> str | None:
    """The saved Content-Type when the saved headers are clearly the answer's, else None."""
    headers = example.get("header") or []
    names = {str(h.get("key", "")).lower() for h in headers}
    if not names or names & REQUEST_HEADERS:
        return None
    for h in headers:
        if str(h.get("key", "")).lower() == "content-type":
            return str(h.get("value", ""))
    return None


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def check_execution(execution: dict[str, Any], example: dict[str, Any]) -> list[str]:
    """What differs between newman's answer and the saved example (empty: it matches)."""
    if execution.get("requestError"):
        return [f"request failed: {execution['requestError'].get('code', 'error')}"]
    response = execution.get("response") or {}
    problems = []
    if response.get("code") != example["code"]:
        problems.append(f"status {response.get('code')} != {example['code']}")
    body_bytes = bytes((response.get("stream") or {}).get("data") or [])
    try:
        body = json.loads(body_bytes)
    except ValueError:
        return [*problems, f"answer is not JSON: {body_bytes[:80]!r}"]
    expected = json.loads(example["body"])
    if shape(body) != shape(expected):
        problems.append(f"body {shape(body)} != {shape(expected)}")
    saved_type = answer_content_type(example)
    if saved_type is not None:
        headers = {h["key"].lower(): h["value"] for h in response.get("header") or []}
        got = headers.get("content-type", "")
        if _media_type(got) != _media_type(saved_type):
            problems.append(f"Content-Type {got!r} != {saved_type!r}")
    return problems


# ------------------------------------------------------------------ the tests


def newman_command() -> str | None:
    configured = os.environ.get(NEWMAN_ENV)
    if configured:
        return configured
    if LOCAL_NEWMAN.is_file():
        return str(LOCAL_NEWMAN)
    return shutil.which("newman")


def test_the_kept_copy_of_the_collection_matches_the_reference() -> None:
    """The collection kept with the tests must not drift from shared/ (when shared/ is there)."""
    if not SHARED_COLLECTION.is_file():
        pytest.skip("shared/ is not beside this clone: nothing to compare the copy with")
    assert KEPT_COLLECTION.read_bytes() == SHARED_COLLECTION.read_bytes()


def test_every_example_is_replayed_or_listed() -> None:
    """No example is dropped: each is replayed, or listed with the reason no request of the
    collection produces it; and that list is the known one."""
    replay = build_replay(load_collection(), "http://127.0.0.1:1")
    assert len(replay.targets) + len(replay.unreplayable) == replay.examples == 28
    assert set(replay.unreplayable) == EXPECTED_UNREPLAYABLE, replay.unreplayable
    # every target's item exists, in order after its set-up steps
    ids = [i["id"] for i in replay.items]
    assert set(replay.targets) | set(replay.setups) == set(ids)
    for setup in replay.setups:
        target = setup.rsplit("-", 1)[0]
        assert ids.index(setup) < ids.index(target)


def test_the_collection_replays_against_the_emulator(
    twofactor_emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newman = newman_command()
    if newman is None:
        pytest.skip(
            f"newman is not installed: set {NEWMAN_ENV} to its path, or run "
            "`npm install --prefix .ci/node newman` (.ci/run does)"
        )
    if not Path(newman).is_file() and shutil.which(newman) is None:
        pytest.fail(f"{NEWMAN_ENV}={newman!r} is not an executable newman")
    replay = build_replay(load_collection(), twofactor_emulator.url)
    collection = tmp_path / "replay.postman_collection.json"
    collection.write_text(json.dumps(replay.collection(), indent=1), encoding="utf-8")
    report = tmp_path / "report.json"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    run = subprocess.run(
        [
            newman,
            "run",
            str(collection),
            "--env-var",
            f"api_key={twofactor_emulator.api_key}",
            "--reporters",
            "json",
            "--reporter-json-export",
            str(report),
            "--timeout-request",
            "10000",
            "--disable-unicode",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert report.is_file(), f"newman wrote no report (exit {run.returncode}): {run.stderr[-2000:]}"
    executions = json.loads(report.read_text(encoding="utf-8"))["run"]["executions"]
    by_id = {e["item"]["id"]: e for e in executions}

    lines = []
    failures = []
    for setup_id, what in replay.setups.items():
        execution = by_id.get(setup_id)
        code = ((execution or {}).get("response") or {}).get("code")
        if code != 200:
            failures.append(f"set-up failed ({what}): status {code}")
    matched = 0
    for item_id, (request_name, example_name, example) in replay.targets.items():
        execution = by_id.get(item_id)
        problems = (
            ["newman did not run it"] if execution is None else check_execution(execution, example)
        )
        checked = "status, body, Content-Type" if answer_content_type(example) else "status, body"
        if problems:
            failures.append(f"{request_name} / {example_name}: {'; '.join(problems)}")
            lines.append(f"  MISMATCH {request_name} / {example_name}: {'; '.join(problems)}")
        else:
            matched += 1
            lines.append(f"  ok       {request_name} / {example_name} ({checked})")
    summary = [f"{matched} of {len(replay.targets)} requests match"]
    summary += [f"  {line.strip()}" for line in lines]
    summary.append(
        f"{len(replay.unreplayable)} examples cannot be replayed (no request produces them):"
    )
    summary += [f"  {r} / {e}: {why}" for (r, e), why in sorted(replay.unreplayable.items())]
    text = "\n".join(summary)
    with capsys.disabled():
        print("\n" + text)
    assert not failures, text + "\n" + "\n".join(failures)
    assert matched == len(replay.targets) > 0


def test_the_docs_table_says_what_is_replayed() -> None:
    """docs/emulator.md's example table marks each example replayed or not, as the replay
    finds it."""
    table = (REPO / "docs" / "emulator.md").read_text(encoding="utf-8")
    documented = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and "(#replay-with-newman)" in cells[4]:
            request = re.sub(r" \((transactional|promotional)\)$", "", cells[0])
            documented[(request, cells[1])] = cells[4].startswith("[replayed]")
    replay = build_replay(load_collection(), "http://127.0.0.1:1")
    found = {(r, e): True for r, e, _ in replay.targets.values()}
    found |= {key: False for key in replay.unreplayable}
    assert documented == found
