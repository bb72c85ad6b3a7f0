# Tollgate console. Keys come from the environment, a mounted secret (ANTHROPIC_API_KEY_FILE) or
# st.secrets, never from the image. Without a key it runs in demo mode against the built-in simulator.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The package with the extras its documented features need: PostgreSQL, Redis, AWS Secrets Manager
# (TOLLGATE_AWS_SECRET_ID), Sentry (SENTRY_DSN) and OpenTelemetry. Price table and models ship inside it.
COPY pyproject.toml ./
COPY core ./core
RUN pip install --no-cache-dir ".[postgres,redis,aws,sentry,otel]" && rm -rf build *.egg-info
COPY app.py server.py ./
COPY pages ./pages
COPY data/budgets.example.toml ./data/
COPY .streamlit/config.toml ./.streamlit/config.toml
# The ledger, spool, journal and users file live here (mount a volume to keep them).
ENV TOLLGATE_DATA_DIR=/app/data
RUN useradd --create-home tollgate && mkdir -p /app/data/spool && chown -R tollgate /app/data
USER tollgate
# A container must listen beyond its own loopback; demo mode elsewhere binds 127.0.0.1.
ENV TOLLGATE_ADDRESS=0.0.0.0
EXPOSE 8501
# /healthz: the process answers; orchestrators use /readyz (ledger writable, circuit not open) for traffic.
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/healthz')"
CMD ["streamlit", "run", "server.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true"]
