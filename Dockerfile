# The Borderwatch API: migrates, then serves. Build context is the repository root.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    BW_ALEMBIC_INI=/srv/borderwatch/alembic.ini
WORKDIR /srv/borderwatch

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install . && useradd --system --uid 10001 borderwatch
COPY alembic.ini ./
COPY migrations ./migrations

USER borderwatch
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["sh", "-c", "borderwatch migrate && borderwatch serve --host 0.0.0.0 --port 8000 --workers ${BW_WORKERS:-2}"]
