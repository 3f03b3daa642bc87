# The Borderwatch API: migrates, then serves. Build context is the repository root.
# Dependencies are exactly uv.lock's (uv sync --locked), as scripts/lib.sh installs them.

FROM python:3.11-slim-bookworm AS build
# The uv that reads uv.lock: keep in step with UV_VERSION in scripts/lib.sh.
ARG UV_VERSION=0.13.8
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never UV_PYTHON=/usr/local/bin/python3.11 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_NO_CACHE=1
RUN pip install "uv==${UV_VERSION}"
WORKDIR /srv/borderwatch
# The dependencies first, in a layer that a change under app/ does not invalidate.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project
COPY app ./app
RUN uv sync --locked --no-editable

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    BW_ALEMBIC_INI=/srv/borderwatch/alembic.ini
WORKDIR /srv/borderwatch
RUN useradd --system --uid 10001 borderwatch
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations

USER borderwatch
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "borderwatch migrate && exec borderwatch serve --host 0.0.0.0 --port 8000 --workers ${BW_WORKERS:-2}"]
