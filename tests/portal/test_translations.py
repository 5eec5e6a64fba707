"""The Spanish catalogue is complete, compiled, and what a Spanish-speaking person sees."""

import ast
import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.urls import reverse
from django.utils import translation
from django.views.defaults import bad_request, server_error

from clusterjobs.models import Job, JobStatus, JobTransition
from clusterjobs.reasons import translate_reason
from tests.clusterjobs.factories import JobFactory
from tests.experiments.conftest import log_example

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale" / "es" / "LC_MESSAGES"
# What `make messages` leaves out: the taller CLI is English-only; the rest is not the portal's.
NOT_TRANSLATED = {"locale", "var", "tests", "bench", "taller_cli", "docs"}


# The two catalogues: Python and templates; the JavaScript of static/ (vendored libraries aside).
DOMAINS = {"django": [], "djangojs": ["--ignore", "static/vendor/*"]}


def po_entries(path: Path) -> list[dict]:
    """msgctxt, msgid, msgstr(s) and flags of each entry of a .po file (a small reader; obsolete
    entries are skipped)."""
    entries = []
    for block in path.read_text().split("\n\n"):
        entry: dict = {"flags": "", "msgstr": []}
        field = None
        for line in block.strip().splitlines():
            if line.startswith("#,"):
                entry["flags"] += line
            elif line.startswith("#"):
                continue
            elif line.startswith(("msgctxt ", "msgid ", "msgid_plural ", "msgstr")):
                field, _, value = line.partition(" ")
                if field.startswith("msgstr"):
                    entry["msgstr"].append(ast.literal_eval(value))
                    field = "msgstr"
                else:
                    entry[field] = ast.literal_eval(value)
            elif line.startswith('"'):
                if field == "msgstr":
                    entry["msgstr"][-1] += ast.literal_eval(line)
                else:
                    entry[field] += ast.literal_eval(line)
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def key(entry: dict) -> tuple[str, str]:
    return entry.get("msgctxt", ""), entry["msgid"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_string_is_translated_and_none_is_fuzzy(domain):
    entries = po_entries(LOCALE / f"{domain}.po")
    assert len(entries) > (100 if domain == "django" else 5)
    for entry in entries:
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert entry["msgstr"] and all(entry["msgstr"]), entry["msgid"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """The sources `make messages` reads, linked into a scratch folder with an empty locale/."""
    assert shutil.which("xgettext"), "GNU gettext is needed to extract the messages (see `make messages`)"
    folder = tmp_path_factory.mktemp("sources")
    for entry in ROOT.iterdir():
        if entry.name not in NOT_TRANSLATED and not entry.name.startswith("."):
            (folder / entry.name).symlink_to(entry)
    (folder / "locale").mkdir()
    return folder


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_catalogue_has_every_string_of_the_sources(sources, domain):
    """makemessages over the sources as they are now, into the scratch folder: a string marked for
    translation but missing from the catalogue (or one left there after its source went) fails."""
    command = [sys.executable, str(ROOT / "manage.py"), "makemessages", "-l", "es", "-d", domain]
    subprocess.run(
        [*command, "--symlinks", "--no-location", *DOMAINS[domain]],
        cwd=sources,
        check=True,
        capture_output=True,
    )
    extracted = {
        key(entry) for entry in po_entries(sources / "locale" / "es" / "LC_MESSAGES" / f"{domain}.po")
    }
    catalogued = {key(entry) for entry in po_entries(LOCALE / f"{domain}.po")}
    assert extracted
    missing, stale = sorted(extracted - catalogued), sorted(catalogued - extracted)
    assert not missing, (
        f"Not in locale/es/LC_MESSAGES/{domain}.po (run `make messages` and translate): {missing}"
    )
    assert not stale, f"In {domain}.po but no longer in the sources (run `make messages`): {stale}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_compiled_catalogue_matches_the_sources(domain):
    with open(LOCALE / f"{domain}.mo", "rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    for entry in po_entries(LOCALE / f"{domain}.po"):
        context, msgid = entry.get("msgctxt"), entry["msgid"]
        if "msgid_plural" in entry:
            # Spanish has three forms here (1, a million, the rest), like Django's own catalogue.
            for n, form in ((1, 0), (1_000_000, 1), (2, 2)):
                if context:
                    found = catalogue.npgettext(context, msgid, entry["msgid_plural"], n)
                else:
                    found = catalogue.ngettext(msgid, entry["msgid_plural"], n)
                assert found == entry["msgstr"][form], msgid
        elif context:
            assert catalogue.pgettext(context, msgid) == entry["msgstr"][0], msgid
        else:
            assert catalogue.gettext(msgid) == entry["msgstr"][0], msgid


@pytest.mark.django_db
def test_pages_speak_spanish(personas):
    client = personas.client("alice")
    response = client.post(reverse("set_language"), {"language": "es", "next": reverse("dashboard")})
    assert response.status_code == 302
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert "Mis proyectos" in dashboard and "Registrar un proyecto" in dashboard and 'lang="es"' in dashboard
    detail = client.get(reverse("projects:detail", args=["genomics"])).content.decode()
    assert "Miembros" in detail and "Investigador principal" in detail and "propietario" in detail
    url = reverse("projects:register")
    taken = client.post(url, {"name": "G", "slug": "genomics", "principal_investigator": "X"})
    assert "Ya existe un proyecto con este identificador." in taken.content.decode()
    empty = client.post(url, {"name": "", "slug": "new-one", "principal_investigator": "X"})
    assert "Este campo es requerido." in empty.content.decode()
    assert (
        "Iniciar sesión"
        in personas.client(None).get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    )


def spanish_client(personas, who: str):
    client = personas.client(who)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    return client


@pytest.mark.django_db
def test_job_pages_speak_spanish(personas):
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.PENDING)
    # A reason stored by a background task (in English) is shown in the reader's language.
    job.status_reason = "accepted by the backend, waiting to start"
    job.save(update_fields=["status_reason"])
    client = spanish_client(personas, "bob")

    jobs = client.get(reverse("clusterjobs:project-jobs", args=["genomics"])).content.decode()
    assert "Trabajos de Genomics" in jobs and "Enviar un trabajo" in jobs and "Filtrar" in jobs
    assert "pendiente" in jobs and "aceptado por el backend, esperando para empezar" in jobs
    assert "Submit a job" not in jobs and "waiting to start" not in jobs and "Submitted by" not in jobs

    mine = client.get(reverse("clusterjobs:my-jobs")).content.decode()
    assert "Mis trabajos" in mine and "My jobs" not in mine

    detail = client.get(reverse("clusterjobs:detail", args=[job.pk])).content.decode()
    assert (
        "Historial de estados" in detail
        and "Especificación" in detail
        and "¿Cancelar este trabajo?" in detail
    )
    assert "Status history" not in detail and "Cancel this job?" not in detail
    JobTransition.objects.create(
        job=job, to_status=JobStatus.PENDING, reason="waiting for resources: 0/3 nodes"
    )
    assert (
        "esperando recursos: 0/3 nodes"
        in client.get(reverse("clusterjobs:detail", args=[job.pk])).content.decode()
    )

    url = reverse("clusterjobs:submit", args=["genomics"])
    form = client.get(url).content.decode()
    assert (
        "Variables de entorno" in form and "Núcleos de CPU" in form and "Límite de tiempo (minutos)" in form
    )
    assert "Environment variables" not in form and "Time limit (minutes)" not in form
    bad = {"name": "x", "image": "bad image", "command": "python -V", "env": "NOEQUALS", "cpu": "1"}
    errors = client.post(
        url, bad | {"memory_mib": "1024", "gpus": "0", "time_limit_minutes": "10"}
    ).content.decode()
    assert "Línea 1: escriba NOMBRE=valor." in errors and "Este campo es requerido." in errors
    assert "write NAME=value" not in errors


@pytest.mark.slow
@pytest.mark.django_db
def test_experiment_pages_speak_spanish(personas, mlflow_uri):
    logged = log_example("genomics")
    client = spanish_client(personas, "vera")

    experiments = client.get(reverse("experiments:list", args=["genomics"])).content.decode()
    assert "Experimentos" in experiments and "se llaman" in experiments
    assert "Experiments of this project" not in experiments

    runs = client.get(reverse("experiments:runs", args=["genomics", logged.experiment_id])).content.decode()
    assert "Ordenar por" in runs and "Comparar esta ejecución" in runs and "FINALIZADA" in runs
    assert "Order by" not in runs and "FINISHED" not in runs

    run = client.get(reverse("experiments:run", args=["genomics", logged.run_id])).content.decode()
    assert "Parámetros" in run and "Historiales de métricas" in run and 'data-x-label="paso"' in run
    assert "Metric histories" not in run

    models = client.get(reverse("experiments:models", args=["genomics"])).content.decode()
    assert "Modelos registrados" in models and "Registered models" not in models

    missing = client.get(reverse("experiments:run", args=["genomics", "0" * 32])).content.decode()
    assert "No encontrado" in missing


def test_error_pages_speak_spanish(rf):
    with translation.override("es"):
        broken = server_error(rf.get("/")).content.decode()
        bad = bad_request(rf.get("/"), SuspiciousOperation()).content.decode()
    assert "Algo ha fallado" in broken and 'lang="es"' in broken and "Server Error" not in broken
    assert "Petición incorrecta" in bad and "Bad Request" not in bad


@pytest.mark.django_db
def test_reasons_are_stored_in_english_and_shown_in_the_readers_language(personas):
    job = JobFactory(project=personas.project, submitter=personas.bob, status=JobStatus.QUEUED)
    spanish = spanish_client(personas, "bob")
    assert spanish.post(reverse("clusterjobs:cancel", args=[job.pk])).status_code == 302
    job = Job.objects.get(pk=job.pk)
    assert job.status == JobStatus.CANCELLED and job.status_reason == "cancelled by bob"
    assert job.transitions.last().reason == "cancelled by bob"
    assert "cancelado por bob" in spanish.get(reverse("clusterjobs:detail", args=[job.pk])).content.decode()
    assert (
        "cancelled by bob"
        in personas.client("bob").get(reverse("clusterjobs:detail", args=[job.pk])).content.decode()
    )
    with translation.override("es"):
        # A reason inside a reason, and one the catalogue does not know (a Kubernetes event).
        nested = "the backend refused the job: waiting for resources: 0/3 nodes"
        assert translate_reason(nested) == "el backend rechazó el trabajo: esperando recursos: 0/3 nodes"
        assert translate_reason("Back-off pulling image") == "Back-off pulling image"


@pytest.mark.django_db
def test_quota_pages_speak_spanish(personas):
    JobFactory(project=personas.project, submitter=personas.bob, status_reason="waiting for quota")
    alice = spanish_client(personas, "alice")
    url = reverse("quotas:request", args=["genomics"])
    sent = alice.post(url, {"max_gpus": 4, "reason": "a deadline"}, follow=True).content.decode()
    assert "Solicitud enviada. Un administrador del sitio decidirá sobre ella." in sent
    empty = alice.post(url, {"max_gpus": "", "reason": ""}).content.decode()
    assert "Este campo es requerido." in empty

    page = spanish_client(personas, "root").get(reverse("quotas:project", args=["genomics"])).content.decode()
    assert "Cuota de Genomics" in page and "Solicitudes de cuota" in page and "Topes por miembro" in page
    assert "Denegar" in page and "Guardar la cuota" in page and "reservadas por trabajos en espera" in page
    assert (
        "Member caps" not in page and "Quota requests" not in page and "reserved by waiting jobs" not in page
    )
    assert reverse("javascript-catalog") in page  # the charts' labels

    overview = (
        spanish_client(personas, "root").get(reverse("quotas:overview") + "?period=bogus").content.decode()
    )
    assert "Uso de todos los proyectos" in overview and 'placeholder="AAAA-MM"' in overview
    assert "Indique un periodo como AAAA-MM" in overview and "Give a period" not in overview

    preview = (
        reverse("quotas:preview", args=["genomics"]) + "?gpus=9&cpu=1&memory_mib=1024&time_limit_minutes=10"
    )
    refused = spanish_client(personas, "bob").get(preview).content.decode()
    assert (
        "Se rechazaría" in refused
        and "como máximo 1 GPU a la vez" in refused
        and "Would be rejected" not in refused
    )

    jobs = (
        spanish_client(personas, "bob")
        .get(reverse("clusterjobs:project-jobs", args=["genomics"]))
        .content.decode()
    )
    assert "esperando cuota" in jobs and "waiting for quota" not in jobs
    catalogue = spanish_client(personas, "bob").get(reverse("javascript-catalog")).content.decode()
    assert '"GPU-hours per day": "Horas de GPU por d\\u00eda"' in catalogue
