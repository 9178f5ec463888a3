"""send_bulk / iter_bulk / send_bulk_chunk against the emulator's R1/Bulk endpoint."""

from __future__ import annotations

import json

import pytest
import requests

from twofactor_notify import (
    AuthenticationError,
    BulkMessage,
    BulkRequestError,
    InvalidInputError,
)
from twofactor_notify.bulk import UNMATCHED_REASON, parse_bulk_answer, prepare_chunk
from twofactor_notify.models import BulkResult

from .conftest import wait_for_requests


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+9198{n:08d}" for n in range(start, start + count)]


def messages(count: int, start: int = 0) -> list[BulkMessage]:
    return [
        BulkMessage(to=p, text=f"msg {i}", sender="TFACTR")
        for i, p in enumerate(numbers(count, start), start)
    ]


def bulk_requests(emulator, count):
    return [e for e in wait_for_requests(emulator, count) if e.path.startswith("/API/R1/Bulk")]


def test_one_request_wire_form(emulator, client, wire):
    msgs = [
        BulkMessage(
            to="98765 43210",
            text="Welcome! Your code is 483920",
            sender="TFACTR",
            callback_value1="order_98765",
            callback_value2="cust_1122",
            callback_format="json",
        ),
        BulkMessage(
            to="+918765432109",
            text="Payment received.",
            sender="TFACTR",
            callback_value1="txn_554433",
            callback_format="raw-url-encoded",
        ),
    ]
    result = client.send_bulk(msgs)
    method, path, body = wire.calls[0]
    assert (method, path) == ("POST", "/API/R1/Bulk/")
    assert body == {
        "module": "TRANS_SMS",
        "messages": [
            {
                "smsFrom": "TFACTR",
                "smsTo": "+919876543210",
                "smsText": "Welcome! Your code is 483920",
                "callback_value1": "order_98765",
                "callback_value2": "cust_1122",
                "callback_format": "json",
            },
            {
                "smsFrom": "TFACTR",
                "smsTo": "+918765432109",
                "smsText": "Payment received.",
                "callback_value1": "txn_554433",
                "callback_format": "raw-url-encoded",
            },
        ],
    }
    assert result.ok and result.total == 2
    assert [a.index for a in result.accepted] == [0, 1]
    assert [a.to for a in result.accepted] == ["+919876543210", "+918765432109"]
    (request_id,) = result.request_ids
    assert [a.message_id for a in result.accepted] == [f"{request_id}-1", f"{request_id}-2"]
    stored = {r.id: r for r in emulator.messages()}
    assert stored[f"{request_id}-1"].callback_value2 == "cust_1122"
    assert stored[f"{request_id}-2"].callback_format == "raw-url-encoded"


def test_2500_messages_make_3_requests(emulator, client, wire):
    result = client.send_bulk(messages(2500))
    assert [len(body["messages"]) for _, _, body in wire.calls] == [1000, 1000, 500]
    assert len(bulk_requests(emulator, 3)) == 3
    assert result.ok
    assert [a.index for a in result.accepted] == list(range(2500))
    assert len({a.message_id for a in result.accepted}) == 2500
    assert len(result.request_ids) == 3
    assert [a.to for a in result.accepted[998:1002]] == numbers(4, 998)
    assert len(emulator.messages()) == 2500


@pytest.mark.parametrize("size", [0, 1001, -1])
def test_chunk_size_outside_1_to_1000_is_refused(emulator, client, size):
    with pytest.raises(InvalidInputError) as caught:
        client.send_bulk(messages(3), chunk_size=size)
    assert caught.value.field == "chunk_size"
    assert emulator.requests == []


def test_send_bulk_chunk_limits(emulator, client):
    with pytest.raises(InvalidInputError):
        client.send_bulk_chunk(messages(1001))
    with pytest.raises(InvalidInputError):
        client.send_bulk_chunk([])
    assert emulator.requests == []
    assert client.send_bulk_chunk(messages(1000)).ok
    assert client.send_bulk_chunk(messages(1)).ok
    assert len(bulk_requests(emulator, 2)) == 2


def test_iter_bulk_reads_a_generator_lazily(emulator, client):
    pulled = 0

    def produce():
        nonlocal pulled
        for m in messages(35):
            pulled += 1
            yield m

    results = client.iter_bulk(produce(), chunk_size=10)
    assert pulled == 0  # nothing read before the first result is asked for
    seen = []
    for result in results:
        seen.append(pulled)
        assert [a.index for a in result.accepted] == list(
            range(pulled - len(result.accepted), pulled)
        )
    assert seen == [10, 20, 30, 35]
    assert len(bulk_requests(emulator, 4)) == 4


def test_local_and_server_rejections_map_to_caller_indexes(emulator, client, wire):
    msgs = messages(8)
    msgs[1] = BulkMessage(to="12345", text="bad number", sender="TFACTR")  # ours
    msgs[3] = BulkMessage(to="+354 611 1234", text="short foreign", sender="TFACTR")  # theirs
    msgs[4] = BulkMessage(to=numbers(1, 4)[0], text="x", sender="TOOLONG")  # ours
    msgs[5] = BulkMessage(to=numbers(1, 5)[0], text="", sender="TFACTR")  # ours
    msgs[6] = BulkMessage(to="+3548221234", text="short foreign", sender="TFACTR")  # theirs
    msgs[7] = BulkMessage(
        to=numbers(1, 7)[0], text="x", sender="TFACTR", callback_format="xml"
    )  # ours
    result = client.send_bulk(msgs)
    assert [a.index for a in result.accepted] == [0, 2]
    rejected = {r.index: r for r in result.rejected}
    assert sorted(rejected) == [1, 3, 4, 5, 6, 7]
    assert rejected[1].reason.startswith("phone:")
    assert rejected[4].reason.startswith("sender:")
    assert rejected[5].reason.startswith("text:")
    assert rejected[7].reason.startswith("callback_format:")
    assert rejected[3].reason == "Phone number must match the required format"
    assert rejected[3].to == "+3546111234"
    assert rejected[6].reason == "Phone number must match the required format"
    assert not result.ok and result.total == 8
    # only the 4 messages that passed our checks were sent, in one request
    (sent,) = [body for _, _, body in wire.calls]
    assert [m["smsTo"] for m in sent["messages"]] == [
        numbers(1, 0)[0],
        numbers(1, 2)[0],
        "+3546111234",
        "+3548221234",
    ]
    assert len(bulk_requests(emulator, 1)) == 1
    assert {r.to for r in emulator.messages()} == set(numbers(1, 0) + numbers(1, 2))


def test_chunk_with_nothing_valid_makes_no_request(emulator, client):
    result = client.send_bulk([BulkMessage(to="1", text="x", sender="TFACTR")] * 3)
    assert [r.index for r in result.rejected] == [0, 1, 2]
    assert result.accepted == ()
    assert emulator.requests == []


def test_indexes_across_chunks_with_rejections(emulator, client):
    msgs = messages(25)
    msgs[13] = BulkMessage(to="+3546111234", text="x", sender="TFACTR")
    msgs[21] = BulkMessage(to="0", text="x", sender="TFACTR")
    result = client.send_bulk(msgs, chunk_size=10)
    assert [r.index for r in result.rejected] == [13, 21]
    assert [a.index for a in result.accepted] == [i for i in range(25) if i not in (13, 21)]


def _failing_on_second_request(emulator, fault, **params):
    """30 messages in chunks of 10; the fault is armed when message 11 is pulled, so it
    hits exactly the 2nd request."""

    def produce():
        for i, m in enumerate(messages(30)):
            if i == 10:
                emulator.inject(fault, times=1, match="/API/R1/Bulk", **params)
            yield m

    return produce()


@pytest.mark.parametrize(
    ("fault", "params", "error", "unknown"),
    [
        ("status", {"status": 503}, "ServerError", False),
        ("status", {"status": 429, "retry_after": 2}, "RateLimitedError", False),
        # a gateway's 502 and a cut-off 200 may follow an accepted request
        ("html", {"status": 502}, "ServerError", True),
        ("reset_after", {}, "OutcomeUnknownError", True),
        ("truncated", {}, "InvalidResponseError", True),
    ],
)
def test_failed_chunk_is_flagged_and_others_still_count(
    emulator, make_client, fault, params, error, unknown
):
    client = make_client(connect_retries=0)
    result = client.send_bulk(_failing_on_second_request(emulator, fault, **params), chunk_size=10)
    (failure,) = result.failed_chunks
    assert (failure.start, failure.count) == (10, 10)
    assert failure.error == error
    assert failure.outcome_unknown is unknown
    assert emulator.api_key not in failure.message
    assert [a.index for a in result.accepted] == list(range(10)) + list(range(20, 30))
    assert result.total == 30 and not result.ok
    assert len(bulk_requests(emulator, 3)) == 3  # no retry of the failed request


def test_timed_out_chunk_is_outcome_unknown(emulator, make_client):
    client = make_client(timeout=(2.0, 0.3), connect_retries=0)
    result = client.send_bulk(
        _failing_on_second_request(emulator, "timeout", seconds=0.6), chunk_size=10
    )
    (failure,) = result.failed_chunks
    assert failure.error == "OutcomeUnknownError" and failure.outcome_unknown
    assert len(result.accepted) == 20
    # the held request is logged when the emulator gives up on it (which also keeps its
    # entry out of the next test's log)
    entries = wait_for_requests(emulator, 3)
    assert sorted(str(e.fault) for e in entries) == ["None", "None", "timeout"]


def test_iter_bulk_streams_failure_then_continues(emulator, client):
    stream = client.iter_bulk(messages(20), chunk_size=10)
    first = next(stream)
    assert first.ok
    emulator.inject("status", times=1, status=500)
    second = next(stream)
    assert second.failed_chunks[0].start == 10 and second.accepted == ()
    with pytest.raises(StopIteration):
        next(stream)


def test_bad_api_key_stops_the_whole_send(emulator, make_client):
    stranger = make_client(api_key="33333333-aaaa-bbbb-cccc-000000000000")
    with pytest.raises(AuthenticationError) as caught:
        stranger.send_bulk(messages(25), chunk_size=10)
    assert "Invalid API Key" in caught.value.details
    assert caught.value.request_id
    assert len(bulk_requests(emulator, 1)) == 1  # not one request per chunk


def test_unparsable_json_answer_maps_to_bulk_request_error(emulator, client):
    broken = b'{"module":"TRANS_SMS","messages":[{"smsTo":"+919876543210"} {]}'
    raw = requests.post(
        f"{emulator.url}/API/R1/Bulk/",
        data=broken,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert raw.status_code == 400
    answer = raw.json()
    assert answer["success"] is False and answer["errorType"] == "ValidationError"
    assert answer["details"][0]["error"] == "Failed to parse request body as JSON"
    # our client cannot send broken JSON: make the emulator answer a client call with it
    emulator.inject(
        "status", times=1, status=400, body=raw.text, content_type=raw.headers["Content-Type"]
    )
    with pytest.raises(BulkRequestError) as caught:
        client.send_bulk_chunk(messages(2))
    assert caught.value.error_type == "ValidationError"
    assert caught.value.request_id == answer["requestId"]
    assert "Failed to parse request body as JSON" in caught.value.details
    # and through send_bulk it is a failed chunk, not an exception
    emulator.inject(
        "status", times=1, status=400, body=raw.text, content_type=raw.headers["Content-Type"]
    )
    result = client.send_bulk(messages(2))
    assert result.failed_chunks[0].error == "BulkRequestError"


def test_reference_bad_key_body_maps_to_authentication_error(emulator, client):
    body = {
        "success": False,
        "requestId": "e3de200f-XXXX-XXXX-XXXX-2a9255bb7c51",
        "error": "Validation failed",
        "errorType": "ValidationError",
        "details": [
            {"field": "apikey", "error": "Invalid API Key Or TRANSACTIONAL_SMS Service Is Inactive"}
        ],
        "timestamp": "2024-12-16T10:59:47.062Z",
    }
    emulator.inject(
        "status", times=1, status=400, body=json.dumps(body), content_type="application/json"
    )
    with pytest.raises(AuthenticationError) as caught:
        client.send_bulk_chunk(messages(1))
    assert caught.value.request_id == "e3de200f-XXXX-XXXX-XXXX-2a9255bb7c51"


# --------------------------------------------------------------------------- parse_bulk_answer


REFERENCE_ANSWER = {
    "success": True,
    "requestId": "f4bda732-XXXX-XXXX-XXXX-518b4ea82708",
    "messageCount": 2,
    "timestamp": "2024-12-16T10:59:17.311Z",
    "processingTime": 1224,
    "queueStats": {"success": True, "totalChunks": 1, "successfulChunks": 1, "failedChunks": 0},
    "messages": [
        {
            "messageId": "f4bda732-XXXX-XXXX-XXXX-518b4ea82708-1",
            "smsFrom": "TFACTR",
            "smsTo": "+91XXXXXXXXXX",
        },
        {
            "messageId": "f4bda732-XXXX-XXXX-XXXX-518b4ea82708-2",
            "smsFrom": "TFACTR",
            "smsTo": "+91XXXXXXXXXX",
        },
    ],
    "rejectedSamples": [
        {
            "index": 0,
            "phone": "+91abcg",
            "reason": "Phone number should only contain digits (with optional leading + sign)",
        },
        {"index": 2, "phone": "+911", "reason": "Phone number must match the required format"},
        {"index": 4, "phone": "+911", "reason": "Phone number must match the required format"},
    ],
}


def test_parse_reference_example_answer():
    # five messages were sent; the reference's answer accepts two (masked numbers) and
    # rejects indexes 0, 2 and 4. Caller indexes differ: a local rejection sits at index 1.
    caller = messages(6)
    caller[1] = BulkMessage(to="bad", text="x", sender="TFACTR")
    chunk = prepare_chunk(caller, region="IN")
    assert chunk.positions == [0, 2, 3, 4, 5]
    result = parse_bulk_answer(REFERENCE_ANSWER, chunk)
    # sent positions 0..4 are caller indexes 0, 2, 3, 4, 5: sent 0, 2, 4 were refused by
    # 2Factor, sent 1 and 3 accepted (their masked numbers match nothing, so by order)
    assert [(a.index, a.message_id) for a in result.accepted] == [
        (2, "f4bda732-XXXX-XXXX-XXXX-518b4ea82708-1"),
        (4, "f4bda732-XXXX-XXXX-XXXX-518b4ea82708-2"),
    ]
    assert [(r.index, r.to) for r in result.rejected] == [
        (0, "+91abcg"),
        (1, "bad"),
        (3, "+911"),
        (5, "+911"),
    ]
    assert result.total == 6
    assert result.request_ids == ("f4bda732-XXXX-XXXX-XXXX-518b4ea82708",)


def test_parse_answer_never_drops_an_unreported_message():
    chunk = prepare_chunk(messages(3), region="IN")
    body = {
        "success": True,
        "requestId": "r",
        "messages": [{"messageId": "r-2", "smsTo": numbers(1, 1)[0]}],
    }
    result = parse_bulk_answer(body, chunk)
    assert [(a.index, a.message_id) for a in result.accepted] == [(1, "r-2")]
    assert result.rejected == ()
    # neither accepted nor refused: said to be unknown, never guessed
    assert [(f.start, f.count, f.outcome_unknown) for f in result.failed_chunks] == [
        (0, 1, True),
        (2, 1, True),
    ]
    assert {f.message for f in result.failed_chunks} == {UNMATCHED_REASON}
    assert result.total == 3


def test_parse_answer_does_not_guess_when_numbers_come_back_masked():
    # Messages 0, 1 and 3 were accepted; 2 was refused but not in the sample. With the
    # numbers masked, order alone cannot say which message each acceptance belongs to.
    chunk = prepare_chunk(messages(4), region="IN")
    masked = "+91XXXXXXXXXX"
    body = {
        "success": True,
        "requestId": "r",
        "messages": [{"messageId": f"r-{n}", "smsTo": masked} for n in (1, 2, 4)],
    }
    result = parse_bulk_answer(body, chunk)
    assert result.accepted == ()
    assert [(f.start, f.count, f.outcome_unknown) for f in result.failed_chunks] == [(0, 4, True)]


def test_parse_answer_places_masked_acceptances_when_the_counts_add_up():
    chunk = prepare_chunk(messages(4), region="IN")
    body = {
        "success": True,
        "requestId": "r",
        "messages": [{"messageId": f"r-{n}", "smsTo": "+91XXXXXXXXXX"} for n in (1, 2, 4)],
        "rejectedSamples": [{"index": 2, "phone": "+91XXXXXXXXXX", "reason": "format"}],
    }
    result = parse_bulk_answer(body, chunk)
    assert [(a.index, a.message_id) for a in result.accepted] == [
        (0, "r-1"),
        (1, "r-2"),
        (3, "r-4"),
    ]
    assert [(r.index, r.reason) for r in result.rejected] == [(2, "format")]
    assert result.failed_chunks == ()


@pytest.mark.parametrize("field", ["messages", "rejectedSamples"])
def test_parse_answer_survives_fields_of_the_wrong_type(field):
    chunk = prepare_chunk(messages(2), region="IN")
    body = {"success": True, "requestId": "r", "messages": [], field: 5}
    result = parse_bulk_answer(body, chunk)
    assert result.total == 2
    assert all(f.outcome_unknown for f in result.failed_chunks)


def test_bulk_result_round_trips_through_json():
    chunk = prepare_chunk(messages(6), region="IN")
    result = parse_bulk_answer(REFERENCE_ANSWER, chunk)
    again = BulkResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
