"""The capture API's command-line client against a fake API on 127.0.0.1 (a free port)."""
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from iyslib import capture_cli
from iyslib.capture_cli import CliError, main, read_rows, row_key, send

HEADER = "recipient,type,source,status,consentDate,recipientType,retailerCode\n"


def csv_text(n, start=0):
    rows = [f"0532{1000000 + i:07d},MESAJ,HS_WEB,ONAY,2026-11-20 10:00:00,BIREYSEL," for i in range(start, start + n)]
    return HEADER + "\n".join(rows) + "\n"


class FakeApi:
    """Answers like the capture API: records each idempotency key once, refuses recipients
    starting with 0599, and can fail the next calls with a status."""

    def __init__(self):
        self.calls, self.keys, self.fail_next = [], {}, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                api.calls.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                  "body": json.loads(body)})
                status, answer = api.answer(self.headers.get("Authorization"), json.loads(body))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, auth, body):
        if self.fail_next:
            return self.fail_next.pop(0), {"error": {"code": "boom", "message": "down"}}
        if auth != "Bearer secret":
            return 401, {"error": {"code": "unauthorized", "message": "Invalid or expired API key."}}
        results = []
        for index, item in enumerate(body["consents"]):
            key = item["idempotencyKey"]
            if item["recipient"].startswith("0599"):
                results.append({"index": index, "status": "error", "consentId": None, "eventId": None,
                                "syncState": None, "error": {"code": "H121", "message": "number not in use"}})
            elif key in self.keys:
                results.append(dict(self.keys[key], index=index, replayed=True))
            else:
                self.keys[key] = {"index": index, "status": "recorded", "consentId": len(self.keys) + 1,
                                  "eventId": len(self.keys) + 1, "syncState": "pending", "error": None}
                results.append(self.keys[key])
        return 200, {"results": results}


@pytest.fixture
def api():
    fake = FakeApi()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_rows_become_items_with_keys_from_their_content():
    items = read_rows(io.StringIO(HEADER + "05321112233,MESAJ,HS_WEB,ONAY,2026-11-20 10:00:00,,\n"), brand="1234")
    assert items == [{
        "recipient": "05321112233", "type": "MESAJ", "source": "HS_WEB", "status": "ONAY",
        "consentDate": "2026-11-20 10:00:00", "brand": "1234", "recipientType": "BIREYSEL",
        "idempotencyKey": items[0]["idempotencyKey"]}]
    assert items[0]["idempotencyKey"] == row_key(items[0])
    # semicolons, a BOM, evidence columns, an explicit key
    text = ("\ufeffrecipient;type;source;status;consentDate;brand;ip;page;idempotencyKey\n"
            "a@example.com;EPOSTA;HS_WEB;RET;2026-11-20T10:00:00Z;77;203.0.113.9;https://x.example/f;k-1\n")
    item = read_rows(io.StringIO(text))[0]
    assert (item["brand"], item["idempotencyKey"]) == ("77", "k-1")
    assert item["evidence"] == {"ip": "203.0.113.9", "page": "https://x.example/f"}
    other = dict(items[0], status="RET")
    assert row_key(other) != row_key(items[0])


def test_a_file_without_required_columns_or_brand_stops():
    with pytest.raises(CliError, match="consentDate"):
        read_rows(io.StringIO("recipient,type,source,status\n1,MESAJ,HS_WEB,ONAY\n"), brand="1")
    with pytest.raises(CliError, match="brand"):
        read_rows(io.StringIO(csv_text(1)))


def test_sends_in_calls_of_1000_and_reports_rows(api):
    items = read_rows(io.StringIO(csv_text(2500)), brand="1234")
    items[1200]["recipient"] = "05991000099"
    items[1200]["idempotencyKey"] = row_key(items[1200])
    out = []
    summary = send(items, api.url, "secret", out=out.append)
    assert [len(c["body"]["consents"]) for c in api.calls] == [1000, 1000, 500]
    assert {c["path"] for c in api.calls} == {"/iys/api/v1/consents"}
    assert {c["auth"] for c in api.calls} == {"Bearer secret"}
    assert (summary.recorded, summary.errors, summary.calls) == (2499, 1, 3)
    # line numbers count the header; the recipient is masked
    assert out == [summary.lines[0]]
    assert out[0].startswith("line 1202 (") and "H121" in out[0] and "05991000099" not in out[0]


def test_running_again_records_nothing_twice(api):
    items = read_rows(io.StringIO(csv_text(30)), brand="1234")
    send(items[:10], api.url, "secret", batch=5)  # the first run "crashed" after 10 rows
    summary = send(read_rows(io.StringIO(csv_text(30)), brand="1234"), api.url, "secret", batch=5)
    assert len(api.keys) == 30
    assert (summary.recorded, summary.replayed) == (30, 10)


def test_failed_calls_are_retried_with_the_same_keys(api):
    items = read_rows(io.StringIO(csv_text(3)), brand="1234")
    api.fail_next = [503, 502]
    summary = send(items, api.url, "secret", sleep=lambda s: None)
    assert summary.recorded == 3
    assert len(api.calls) == 3
    assert api.calls[0]["body"] == api.calls[2]["body"]
    api.fail_next = [500] * 4
    with pytest.raises(CliError, match="failed 4 times"):
        send(items, api.url, "secret", sleep=lambda s: None)


def test_a_refused_call_stops_the_run(api):
    items = read_rows(io.StringIO(csv_text(3)), brand="1234")
    with pytest.raises(CliError, match="unauthorized"):
        send(items, api.url, "wrong")


def test_main_exit_codes(api, tmp_path, monkeypatch, capsys):
    path = tmp_path / "c.csv"
    path.write_text(csv_text(2) + "05991000099,MESAJ,HS_WEB,ONAY,2026-11-20 10:00:00,,\n", encoding="utf-8")
    monkeypatch.delenv("IYS_API_KEY", raising=False)
    assert main([str(path), "--url", api.url, "--brand", "1"]) == 2
    monkeypatch.setenv("IYS_API_KEY", "secret")
    assert main([str(path), "--url", api.url, "--brand", "1"]) == 1
    out = capsys.readouterr().out
    assert "3 rows in 1 calls: 2 recorded, 0 unchanged, 1 refused" in out
    path.write_text(csv_text(2), encoding="utf-8")
    assert main([str(path), "--url", api.url, "--brand", "1"]) == 0
    assert capture_cli.BATCH_MAX == 1000
