# syntax=docker/dockerfile:1
#
# Image of the seleto-agent service.
#   docker build -t seleto-agent .
#   docker run --rm --env-file .env seleto-agent seleto-agent migrate    # before the first start and on upgrades
#   docker run -d --env-file .env -p 8000:8000 --stop-timeout 30 seleto-agent
# `serve` does not apply migrations by itself; /readyz answers 503 until they are applied.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# UV_COMPILE_BYTECODE: compile .pyc once here, so the runtime starts fast and never writes them.
# UV_LINK_MODE=copy: files are copied out of uv's cache mount, which the final image lacks.
# UV_PYTHON_DOWNLOADS=never: use the image's own Python 3.11, never download another one.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv comes from PyPI, like everything else this build installs.
RUN pip install "uv>=0.13,<0.14"

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself. README.md is needed because pyproject.toml names it as the readme,
# and the build backend refuses to build without it.
COPY README.md ./
COPY src/ src/
COPY prompts/ prompts/
COPY knowledge/ knowledge/
COPY config/ config/
COPY supabase/ supabase/
# --no-editable: the package is copied into the venv's site-packages, so the runtime stage
# needs no src/ folder.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 seleto \
    && useradd --system --uid 10001 --gid seleto --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin seleto

WORKDIR /app

# The venv sits at the same path as in the builder: its scripts point at /app/.venv/bin/python.
COPY --from=builder /app/.venv /app/.venv
# Files the code reads at run time (prompt, fixed replies, catalog, business hours, migrations).
COPY --from=builder /app/prompts /app/prompts
COPY --from=builder /app/knowledge /app/knowledge
COPY --from=builder /app/config /app/config
COPY --from=builder /app/supabase /app/supabase

# The default DATABASE_URL (sqlite:///var/seleto.db) resolves to /app/var; only this folder is
# writable by the service user. Production sets DATABASE_URL to Supabase Postgres instead.
RUN mkdir -p /app/var && chown seleto:seleto /app/var

# The package is installed non-editable, so settings.py's repository-relative defaults (derived
# from the installed file's location) point inside the venv, where there are no migrations and
# no prompts. Every file setting must therefore point at the copies under /app.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AGNO_TELEMETRY=false \
    MIGRATIONS_DIR=/app/supabase/migrations \
    PROMPT_FILE=/app/prompts/sp_agente_v1.xml \
    FIXED_REPLIES_FILE=/app/prompts/respostas_fixas_v1.yaml \
    KNOWLEDGE_FILE=/app/knowledge/catalog.yaml \
    BUSINESS_HOURS_FILE=/app/config/business_hours.yaml

# Numeric, so orchestrators can verify a non-root user (runAsNonRoot).
USER 10001:10001

EXPOSE 8000

# The slim image has no curl; Python's urllib does the job. urlopen raises on any non-2xx, which
# makes the check fail. /healthz is liveness only; use /readyz for a load balancer's readiness.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# On SIGTERM the embedded worker gives running turns up to WORKER_LEASE_SECONDS / 2 (15 s) to
# finish, so allow a stop timeout of at least 20-30 s.
CMD ["seleto-agent", "serve", "--port", "8000"]
