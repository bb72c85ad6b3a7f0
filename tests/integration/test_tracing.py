"""OpenTelemetry spans of guarded calls, read back from the SDK's in-memory exporter."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from core import errors

MODEL = "claude-haiku-5-5"
PROMPT = "Summarise the quarterly numbers for jane@example.org in two lines."


@pytest.fixture(scope="module")
def exporter():
    """The process's tracer provider (OTel allows one), with an in-memory exporter added."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    exp = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    return exp


class Spans:
    """Tollgate's finished spans only (the SDK or a host may add others)."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def get_finished_spans(self) -> tuple:
        return tuple(s for s in self.exporter.get_finished_spans() if s.instrumentation_scope.name == "tollgate")


@pytest.fixture
def spans(exporter):
    exporter.clear()
    return Spans(exporter)


def test_a_call_is_one_client_span_with_genai_attributes(make_client, fresh_sim, spans):
    client = make_client()
    r = client.create(PROMPT, user="ana", model="simple", max_tokens=64)
    (span,) = spans.get_finished_spans()
    a = span.attributes
    assert span.name == f"chat {MODEL}" and span.kind == SpanKind.CLIENT
    assert a["gen_ai.system"] == "anthropic" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == MODEL and a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens  # cache tokens included
    assert a["gen_ai.usage.output_tokens"] == r.usage.output_tokens > 0
    assert a["gen_ai.usage.cache_read.input_tokens"] == r.usage.cache_read_tokens
    assert a["gen_ai.usage.cache_creation.input_tokens"] == (r.usage.cache_creation_5m_tokens
                                                             + r.usage.cache_creation_1h_tokens)
    assert a["gen_ai.response.id"] == r.message_id and r.message_id.startswith("msg_")
    assert a["anthropic.request_id"] == r.request_id
    assert a["tollgate.cost_usd"] == str(r.cost_usd) and a["tollgate.status"] == "ok"
    assert span.status.status_code != StatusCode.ERROR
    assert not any("jane@example.org" in str(v) or "quarterly" in str(v) for v in a.values())
    sdk = [s for s in spans.exporter.get_finished_spans() if s.instrumentation_scope.name != "tollgate"]
    assert sdk and all(s.parent is not None and s.parent.span_id == span.context.span_id for s in sdk)  # nested


def test_a_stream_nests_the_sdks_span_which_ends_with_it(make_client, fresh_sim, spans):
    r = make_client().stream("Tell me a story", user="ana", model=MODEL, max_tokens=64).final()
    (span,) = spans.get_finished_spans()
    sdk = [s for s in spans.exporter.get_finished_spans() if s.instrumentation_scope.name != "tollgate"]
    assert len(sdk) == 1 and sdk[0].parent.span_id == span.context.span_id  # finished: the stream was read
    assert r.usage.output_tokens > 0 and span.attributes["tollgate.streamed"]


def test_cache_tokens_count_in_input_tokens(make_client, fresh_sim, spans):
    client = make_client(cache="off")
    system = [{"type": "text", "text": "You are a careful analyst. " * 400, "cache_control": {"type": "ephemeral"}}]
    client.create("First", user="ana", model=MODEL, max_tokens=32, system=system)
    r = client.create("Second", user="ana", model=MODEL, max_tokens=32, system=system)
    assert r.usage.cache_read_tokens > 0, "the simulator should serve the cached prefix"
    a = spans.get_finished_spans()[-1].attributes
    assert a["gen_ai.usage.cache_read.input_tokens"] == r.usage.cache_read_tokens
    assert a["gen_ai.usage.input_tokens"] == r.usage.input_tokens + r.usage.cache_read_tokens \
        + r.usage.cache_creation_5m_tokens + r.usage.cache_creation_1h_tokens


def test_retries_are_span_events(make_client, fresh_sim, spans):
    client = make_client()
    fresh_sim.script_faults([{"fault": "529", "retry_after": 0.5}, {"fault": "503", "retry_after": 0.25}])
    r = client.stream("Tell me a story", user="ana", model=MODEL, max_tokens=64).final()
    (span,) = spans.get_finished_spans()
    retries = [e for e in span.events if e.name == "retry"]
    assert [(e.attributes["attempt"], e.attributes["error.type"], e.attributes["tollgate.wait_s"])
            for e in retries] == [(1, "overloaded", 0.5), (2, "upstream_server_error", 0.25)]
    assert r.retries == 2 and span.attributes["tollgate.retries"] == 2 and span.attributes["tollgate.streamed"]
    assert span.attributes["gen_ai.response.id"] == r.message_id and r.message_id.startswith("msg_")


def test_failures_and_refusals_set_error_status(make_client, fresh_sim, spans):
    client = make_client(max_attempts=1)
    fresh_sim.script_faults([{"fault": "500"}])
    with pytest.raises(errors.UpstreamServerError):
        client.create("Fails", user="ana", model=MODEL, max_tokens=16)
    with pytest.raises(errors.UnknownModel):
        client.create("Refused", user="ana", model="no-such-model", max_tokens=16)
    failed, refused = spans.get_finished_spans()
    assert failed.status.status_code == StatusCode.ERROR and failed.status.description == "upstream_server_error"
    assert failed.attributes["error.type"] == "upstream_server_error" and "gen_ai.response.model" not in \
        failed.attributes
    assert refused.status.status_code == StatusCode.ERROR and refused.attributes["error.type"] == "unknown_model"


def test_tracing_off_makes_no_span(make_client, fresh_sim, spans):
    make_client(tracing="off").create("Untraced", user="ana", model=MODEL, max_tokens=16)
    assert spans.get_finished_spans() == ()
