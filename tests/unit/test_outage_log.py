"""endpoints.responses.OutageLog: an outage logs a line a second, not a line a request."""

from __future__ import annotations

import logging

import pytest

from authgate.endpoints.responses import OutageLog
from authgate.errors import StoreUnavailable


def test_an_outage_logs_once_a_second_with_the_count_it_stands_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    outages = OutageLog(interval=1.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="authgate.endpoints"):
        for _ in range(500):  # a burst of 503s within one second
            outages.answered_503(StoreUnavailable("token store"))
            now[0] += 0.001
        now[0] = 101.5
        outages.answered_503(StoreUnavailable("token store"))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "answering 503: token store unavailable",
        "answering 503: token store unavailable (and 499 more since the last line)",
    ]


def test_each_dependency_has_its_own_line(caplog: pytest.LogCaptureFixture) -> None:
    outages = OutageLog(clock=lambda: 5.0)
    with caplog.at_level(logging.WARNING, logger="authgate.endpoints"):
        for what in ("token store", "registry", "token store", "user directory"):
            outages.answered_503(StoreUnavailable(what))
    assert len(caplog.records) == 3
