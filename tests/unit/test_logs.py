"""LOG_FORMAT=json: one JSON object per record, structured fields and exceptions kept."""

from __future__ import annotations

import json
import logging

from s3proxy.logs import JsonFormatter


def test_json_lines_carry_message_extra_fields_and_exception() -> None:
    logger = logging.getLogger("s3proxy.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord("s3proxy.test", logging.ERROR, __file__, 1, "failed %s", ("upload",),
                                   __import__("sys").exc_info(), extra={"operation": "storage.object.upload",
                                                                        "status": 500})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out = json.loads(line)
    assert out["level"] == "ERROR" and out["logger"] == "s3proxy.test" and out["message"] == "failed upload"
    assert out["operation"] == "storage.object.upload" and out["status"] == 500
    assert "ValueError: boom" in out["exception"]
    assert out["time"].endswith("+00:00")
    assert "args" not in out and "msg" not in out  # only the rendered message
