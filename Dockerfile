# The portal image: web (gunicorn), Celery worker and beat, the job watcher, migrations and the MLflow server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TALLER_VAR_DIR=/var/lib/taller \
    STATIC_ROOT=/app/staticfiles

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin taller

WORKDIR /app
COPY . .
# The compiled translations (.mo) are committed, so no gettext is needed here. The writable folders
# belong to the unprivileged user; named volumes mounted on them start with that ownership.
RUN pip install . \
    && DEBUG=false SECRET_KEY=build-only-collectstatic-key python manage.py collectstatic --noinput \
    && mkdir -p "$TALLER_VAR_DIR" /var/lib/mlflow/artifacts \
    && chown taller "$TALLER_VAR_DIR" /var/lib/mlflow/artifacts

USER taller
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
