# stylebot: Telegram bot + inference process in one container.
#   docker build -t stylebot .
#   docker run --env-file .env -v stylebot-data:/data stylebot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite+aiosqlite:////data/stylebot.db \
    STYLETRANSFER_CHECKPOINTS=/app/checkpoints \
    STYLEBOT_ALEMBIC_DIR=/app/alembic \
    PORT=8080

WORKDIR /app
# CPU wheels of torch keep the image small; use the CUDA index for a GPU host.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# the package, migrations and any trained weights under checkpoints/ (see .dockerignore)
COPY . .
RUN pip install --extra-index-url "$TORCH_INDEX" . \
    && useradd --create-home --uid 10001 stylebot \
    && mkdir -p /data /app/checkpoints && chown stylebot:stylebot /data

USER stylebot
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8080\")}/healthz', timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["stylebot"]
