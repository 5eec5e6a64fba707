"""A job's resource use from the cluster's Prometheus, against Debian's real Prometheus scraping a
small exporter served by the test: cAdvisor's and DCGM's series, labelled as the cluster labels
them, for the job's pod and for pods that must not count (the pod's own cgroup, another job
whose name shares a prefix, another namespace). The page, its numbers, the GPU flag on the job
and on its MLflow run, Prometheus down, slow or unset, label escaping, and who may see it."""

import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient
from werkzeug import Response

from clusterjobs import resource_use, sync, tasks
from clusterjobs.models import Job, JobStatus
from experiments import gateway
from tests.clusterjobs.factories import JobFactory
from tests.conftest import free_port

CPU_CORES = 0.5  # the job's container uses half a core, all along
MEMORY = 256 * 1024 * 1024
GPU_UTIL = (10, 20)  # two GPUs, averaging 15 %
NAMESPACE = "taller-genomics"


class Exporter:
    """The series a kubelet's cAdvisor and dcgm-exporter would expose, computed at each scrape.
    ``pods`` maps (namespace, pod) to a multiplier of the job's use."""

    def __init__(self) -> None:
        self.started = time.time()
        self.pods: dict[tuple[str, str], float] = {}
        self.odd_value = 'a"b\\c'  # a label value with a quote and a backslash
        self.lock = threading.Lock()

    def text(self) -> str:
        seconds = time.time() - self.started
        lines = [
            "# TYPE container_cpu_usage_seconds_total counter",
            "# TYPE container_memory_working_set_bytes gauge",
            "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
        ]
        with self.lock:
            pods = dict(self.pods)
        for (namespace, pod), factor in pods.items():
            for container in ("main", ""):  # "": the pod's own cgroup, which holds the same use
                labels = f'namespace="{namespace}",pod="{pod}",container="{container}"'
                lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {CPU_CORES * factor * seconds}")
                lines.append(f"container_memory_working_set_bytes{{{labels}}} {MEMORY * factor}")
            for gpu, util in enumerate(GPU_UTIL):
                labels = f'gpu="{gpu}",namespace="{namespace}",pod="{pod}",container="main"'
                lines.append(f"DCGM_FI_DEV_GPU_UTIL{{{labels}}} {util * factor}")
        escaped = self.odd_value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'DCGM_FI_DEV_GPU_UTIL{{namespace="{escaped}",pod="odd-12345"}} 42')
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """Debian's Prometheus scraping the exporter every second; yields (its URL, the exporter)."""
    exporter = Exporter()
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.expect_request("/metrics").respond_with_handler(
        lambda request: Response(exporter.text(), content_type="text/plain; version=0.0.4")
    )
    server.start()
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "cluster",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log = open(folder / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (folder / "prometheus.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("Prometheus did not start: " + (folder / "prometheus.log").read_text()[-3000:])
        yield url, exporter
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server.stop()


def instant(url: str, expression: str) -> list[dict]:
    answer = requests.get(f"{url}/api/v1/query", params={"query": expression}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for_samples(url: str, pod: str, count: int = 6) -> None:
    """Until Prometheus holds ``count`` scrapes of the pod's GPU series (one a second)."""
    deadline = time.monotonic() + 60
    expression = f'count_over_time(DCGM_FI_DEV_GPU_UTIL{{pod="{pod}",gpu="0"}}[5m])'
    while time.monotonic() < deadline:
        found = instant(url, expression)
        if found and float(found[0]["value"][1]) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus has no {count} samples of {pod}")


@pytest.fixture
def gpu_job(personas, prometheus, settings):
    """A job of the genomics project running on Kubernetes with 2 GPUs, whose pod the exporter
    shows; beside it, pods that must not count."""
    url, exporter = prometheus
    settings.TALLER_PROMETHEUS_URL = url
    settings.TALLER_PROMETHEUS_RATE_SECONDS = 4  # four of this Prometheus' 1 s scrapes
    settings.TALLER_GPU_UNDERUSED_PERCENT = 30
    job = JobFactory(
        project=personas.project,
        submitter=personas.bob,
        status=JobStatus.RUNNING,
        backend="kubernetes",
        gpus=2,
        cpu=2,
        memory_mib=1024,
        started_at=timezone.now() - timedelta(seconds=2),
    )
    pod = f"taller-{job.pk}-x7k2q"
    with exporter.lock:
        exporter.pods[(NAMESPACE, pod)] = 1.0
        exporter.pods[(NAMESPACE, f"taller-{job.pk}0-abcde")] = 7.0  # job 10×pk: its name shares a prefix
        exporter.pods[("taller-other", pod)] = 9.0  # the same pod name in another project's namespace
    wait_for_samples(url, pod)
    yield job
    with exporter.lock:
        exporter.pods.clear()


def test_promql_strings_escape_what_would_end_them():
    assert resource_use.promql_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert resource_use.promql_string("plain-name") == '"plain-name"'
    selector = resource_use.pod_selector('ns"} or vector(1) or x{a="', "taller-1")
    assert selector.startswith('namespace="ns\\"} or vector(1) or x{a=\\"",pod=~"taller\\\\-1-[a-z0-9]{5}"')


def test_the_page_shows_the_jobs_use_from_a_real_prometheus(gpu_job, personas):
    use = resource_use.resource_use(gpu_job)
    assert use.problem == ""
    assert use.rows
    # The container's half core, not doubled by the pod's own cgroup, nor the other pods' use.
    assert 0.45 <= use.cpu_peak <= 0.55, use
    assert 0.3 <= use.cpu_average <= 0.55, use  # rate() needs a few scrapes at the start
    assert use.memory_peak_mib == 256.0
    assert use.gpu_average == 15.0
    assert {row["gpu"] for row in use.rows} == {15.0}

    client = Client()
    client.force_login(personas.bob)
    page = client.get(f"/jobs/{gpu_job.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="/jobs/{gpu_job.pk}/resources/"' in html
    assert "GPUs underused" not in html  # flagged only once it ended

    page = client.get(f"/jobs/{gpu_job.pk}/resources/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="resource-data"' in html and 'id="gpu-chart"' in html
    assert "256.0 MiB at most, of 1024 MiB asked" in html
    assert "15.0 % in use on average, over 2 GPUs" in html
    assert 'id="resource-use-underused"' in html
    rows = html[html.index("<tbody>", html.index('id="resource-table"')) : html.index("</tbody>")]
    assert rows.count("<tr>") >= len(use.rows)  # as many points or more, a moment later
    assert rows.count("<tr><td><time datetime=") == rows.count("<tr>")

    fragment = client.get(f"/jobs/{gpu_job.pk}/resources/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content and b'id="resource-table"' in fragment.content


def test_a_job_that_ended_is_flagged_once_on_the_job_and_its_run(gpu_job, personas, mlflow_uri):
    experiment_id = gateway.ensure_experiment(personas.project.slug, "gpu-use")
    run_id = gateway.start_job_run(
        personas.project.slug,
        experiment_id,
        gpu_job.pk,
        "gpu job",
        "bob",
        start_time_ms=int(time.time() * 1000),
    )
    Job.objects.filter(pk=gpu_job.pk).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), mlflow_run_id=run_id
    )

    assert tasks.check_gpu_use.apply(args=[gpu_job.pk]).get() == "underused"
    gpu_job.refresh_from_db()
    assert gpu_job.gpu_underused and gpu_job.gpu_use_percent == 15.0
    tags = gateway.get_run(personas.project.slug, run_id)["tags"]
    assert tags["taller.gpu_underused"] == "true"
    assert tags["taller.gpu_use_percent"] == "15"
    assert resource_use.flag_gpu_use(gpu_job.pk) is None  # once

    client = Client()
    client.force_login(personas.vera)
    job_page = client.get(f"/jobs/{gpu_job.pk}/").content.decode()
    assert 'id="job-gpu-use" class="flag"' in job_page and "GPUs underused: 15.0 %" in job_page
    runs = client.get(f"/projects/{personas.project.slug}/experiments/{experiment_id}/").content.decode()
    assert "gpu-underused" in runs
    run_page = client.get(f"/projects/{personas.project.slug}/runs/{run_id}/").content.decode()
    assert 'id="run-gpu-underused"' in run_page
    api = APIClient()
    api.force_authenticate(personas.vera)
    shown = api.get(f"/api/v1/jobs/{gpu_job.pk}/").json()
    assert (shown["gpu_use_percent"], shown["gpu_underused"]) == (15.0, True)
    listed = api.get("/api/v1/jobs/", {"project": personas.project.slug}).json()["results"]
    assert [(j["gpu_use_percent"], j["gpu_underused"]) for j in listed if j["id"] == gpu_job.pk] == [
        (15.0, True)
    ]


def test_a_job_that_used_its_gpus_is_not_flagged(gpu_job, settings):
    settings.TALLER_GPU_UNDERUSED_PERCENT = 10
    Job.objects.filter(pk=gpu_job.pk).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert resource_use.flag_gpu_use(gpu_job.pk) is False
    gpu_job.refresh_from_db()
    assert not gpu_job.gpu_underused and gpu_job.gpu_use_percent == 15.0


def test_escaped_labels_reach_exactly_their_series_in_prometheus(prometheus):
    url, exporter = prometheus
    deadline = time.monotonic() + 30
    odd = f"DCGM_FI_DEV_GPU_UTIL{{namespace={resource_use.promql_string(exporter.odd_value)}}}"
    while time.monotonic() < deadline and not instant(url, odd):
        time.sleep(0.5)
    # The value with a quote and a backslash, escaped, finds its own series and nothing else.
    assert [r["metric"]["pod"] for r in instant(url, odd)] == ["odd-12345"]
    # An injection through a name ends nowhere: the whole text is one label value, matching nothing.
    selector = resource_use.pod_selector('x"} or DCGM_FI_DEV_GPU_UTIL{namespace=~".+', "taller-1")
    now = time.time()
    answer = requests.get(
        f"{url}/api/v1/query_range",
        params={"query": resource_use.usage_query(selector, 60), "start": now - 30, "end": now, "step": 1},
        timeout=10,
    ).json()
    assert answer["status"] == "success", answer
    assert answer["data"]["result"] == []


def test_prometheus_down_slow_or_unset_leaves_the_page_readable(personas, settings):
    job = JobFactory(
        project=personas.project,
        submitter=personas.bob,
        status=JobStatus.RUNNING,
        backend="kubernetes",
        started_at=timezone.now() - timedelta(minutes=5),
    )
    client = Client()
    client.force_login(personas.bob)

    settings.TALLER_PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    page = client.get(f"/jobs/{job.pk}/resources/")
    assert page.status_code == 200
    assert "Prometheus cannot be reached." in page.content.decode()
    assert client.get(f"/jobs/{job.pk}/").status_code == 200

    with HTTPServer(host="127.0.0.1", port=free_port()) as slow:
        slow.expect_request("/api/v1/query_range").respond_with_handler(
            lambda request: time.sleep(2) or Response("{}", content_type="application/json")
        )
        settings.TALLER_PROMETHEUS_URL = slow.url_for("/").rstrip("/")
        settings.TALLER_PROMETHEUS_TIMEOUT_SECONDS = 0.5
        started = time.monotonic()
        page = client.get(f"/jobs/{job.pk}/resources/")
        assert "Prometheus did not answer in time." in page.content.decode()
        assert time.monotonic() - started < 2

    with HTTPServer(host="127.0.0.1", port=free_port()) as refusing:
        refusing.expect_request("/api/v1/query_range").respond_with_json(
            {"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400
        )
        settings.TALLER_PROMETHEUS_URL = refusing.url_for("/").rstrip("/")
        assert (
            "Prometheus refused the query: parse error"
            in client.get(f"/jobs/{job.pk}/resources/").content.decode()
        )

    settings.TALLER_PROMETHEUS_URL = ""
    assert 'id="resource-use"' not in client.get(f"/jobs/{job.pk}/").content.decode()
    page = client.get(f"/jobs/{job.pk}/resources/")
    assert "no Prometheus configured" in page.content.decode()


def test_a_local_job_has_no_cluster_use(personas, settings):
    settings.TALLER_PROMETHEUS_URL = "http://127.0.0.1:9"
    job = JobFactory(
        project=personas.project, submitter=personas.bob, backend="local", started_at=timezone.now()
    )
    client = Client()
    client.force_login(personas.bob)
    assert 'id="resource-use"' not in client.get(f"/jobs/{job.pk}/").content.decode()
    assert "jobs that ran on the cluster" in client.get(f"/jobs/{job.pk}/resources/").content.decode()


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 302), ("charlie", 404), ("vera", 200), ("bob", 200), ("alice", 200), ("root", 200)],
)
def test_who_sees_a_jobs_resource_use(personas, settings, persona, status):
    settings.TALLER_PROMETHEUS_URL = f"http://127.0.0.1:{free_port()}"
    job = JobFactory(
        project=personas.project,
        submitter=personas.bob,
        backend="kubernetes",
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
    )
    client = Client()
    if persona != "anonymous":
        client.force_login(getattr(personas, persona))
    assert client.get(f"/jobs/{job.pk}/resources/").status_code == status


@pytest.mark.django_db(transaction=True)
def test_the_end_of_a_gpu_job_has_a_worker_record_its_use(gpu_job, mlflow_uri, celery_worker):
    """The whole way: the job ends (sync.end_job, as the watcher ends it), a real worker runs the
    check against the real Prometheus, and the job carries its GPU use."""
    assert sync.end_job(gpu_job.pk, JobStatus.SUCCEEDED, "done", log_lines=[])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gpu_job.refresh_from_db()
        if gpu_job.gpu_use_percent is not None:
            break
        time.sleep(0.3)
    assert gpu_job.gpu_use_percent == 15.0 and gpu_job.gpu_underused


def test_docs_name_the_settings():
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for name in ("TALLER_PROMETHEUS_URL", "TALLER_GPU_UNDERUSED_PERCENT", "DCGM_FI_DEV_GPU_UTIL"):
        assert name in text
