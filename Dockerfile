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
# the ONNX Runtime graphs of the shipped nets and the presets' AdaIN statistics, exported once
# here (~30 s) rather than after each container start's first jobs
ENV STYLETRANSFER_ONNX_CACHE=/app/onnx-cache
RUN stylize prepare && chown -R stylebot:stylebot /app/onnx-cache

USER stylebot
VOLUME /data
EXPOSE 8080
# `stylebot check`: settings, weights (sha256), database at head, /data writable, the token (getMe)
# and the running bot's /healthz (inference process alive); exit 0 only when all are OK
HEALTHCHECK --interval=60s --timeout=20s --start-period=90s --retries=3 \
    CMD ["stylebot", "check", "--healthz"]
STOPSIGNAL SIGTERM
CMD ["stylebot"]
