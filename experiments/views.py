"""Pages of a project's MLflow experiments, runs and their comparison (artifacts in
artifact_views.py, registered models in model_views.py), and ``mlflow_page``, which they share.

Each view checks the membership through access.py first, then makes one bounded call to
MLflow (through the gateway); slower parts of a page (artifact tree, metric charts) load as
their own fragments. MLflow being down is a page with a message, never a 500.
"""

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clusterjobs.models import Job
from portal.projects.access import Need, can, get_project_for_user
from portal.projects.models import Project

from . import gateway
from .templatetags.mlflow_extras import mlflow_state, ms_datetime

PAGE_SIZES = (25, 50, 100)
DEFAULT_COLUMNS = 6
RUN_ATTRIBUTES = [
    ("attributes.start_time", gettext_lazy("Started")),
    ("attributes.run_name", gettext_lazy("Run")),
    ("attributes.status", gettext_lazy("Status")),
    ("attributes.user_id", gettext_lazy("User")),
]


def mlflow_page(view):
    """MLflow's refusals as the page's answer: 404 as Http404, the rest as a page with the message."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except gateway.GatewayError as error:
            if error.status == 404:
                raise Http404(str(error)) from error
            status = 400 if error.status in {400, 409} else 502
            template = "experiments/unavailable.html"
            if request.htmx:
                template += "#message"
            return render(
                request, template, {"message": str(error), "project_slug": kwargs.get("slug")}, status=status
            )

    return login_required(wrapper)


def jobs_by_run(project: Project, run_ids: list[str]) -> dict[str, dict]:
    """The job that made each run (one query): {run_id: {"id", "name", "url", "status"}}."""
    jobs = Job.objects.filter(project=project, mlflow_run_id__in=[r for r in run_ids if r]).select_related(
        "project"
    )
    return {
        job.mlflow_run_id: {
            "id": job.pk,
            "name": job.name,
            "url": job.get_absolute_url(),
            "status": job.status,
        }
        for job in jobs
    }


# Experiments ---------------------------------------------------------------------------------


@mlflow_page
def experiment_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    token = request.GET.get("page_token", "")
    page = gateway.list_experiments(project.slug, max_results=50, page_token=token)
    context = {"project": project, "page": page, "page_token": token}
    return render(request, "experiments/experiments.html", context)


def _order_by(order: str) -> list[str]:
    return [part.strip() for part in order.split(",") if part.strip()]


def _column_key(column: str) -> str:
    kind, _dot, key = column.partition(".")
    return f"{kind}.`{key}`" if kind in {"metrics", "params", "tags"} else column


@mlflow_page
def run_list(request: HttpRequest, slug: str, experiment_id: str) -> HttpResponse:
    """The runs table: server-side pages through MLflow's page_token, filter, sort and columns."""
    project = get_project_for_user(request.user, slug)
    experiment = gateway.get_experiment(project.slug, experiment_id)
    query = request.GET
    filter_string = query.get("filter", "").strip()
    order = query.get("order", "").strip()
    size = int(query.get("size")) if query.get("size", "").isdigit() else PAGE_SIZES[0]
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    token = query.get("page_token", "")
    previous = query.getlist("prev")
    error = ""
    try:
        page = gateway.search_runs(
            [experiment["experiment_id"]],
            filter_string=filter_string,
            order_by=_order_by(order),
            max_results=size,
            page_token=token,
        )
    except gateway.GatewayError as failure:
        if failure.status != 400:
            raise
        error = str(failure)
        page = {"runs": [], "next_page_token": None}

    metric_keys = sorted({k for run in page["runs"] for k in run["metrics"]})
    param_keys = sorted({k for run in page["runs"] for k in run["params"]})
    if query.get("columns") == "chosen":
        chosen = query.getlist("cols")
    else:
        chosen = [f"metrics.{k}" for k in metric_keys[:DEFAULT_COLUMNS]]
        chosen += [f"params.{k}" for k in param_keys[:DEFAULT_COLUMNS]]
    offered = sorted(
        {f"metrics.{k}" for k in metric_keys} | {f"params.{k}" for k in param_keys} | set(chosen)
    )
    columns = [
        {
            "id": column,
            "kind": column.partition(".")[0],
            "key": column.partition(".")[2],
            "order": _column_key(column),
        }
        for column in chosen
        if column.partition(".")[0] in {"metrics", "params"}
    ]
    for run in page["runs"]:
        run["cells"] = [run[c["kind"]].get(c["key"], "") for c in columns]
    jobs = jobs_by_run(project, [run["run_id"] for run in page["runs"]])
    run_url = reverse("experiments:run", args=[project.slug, "RUN"]).removesuffix("RUN/")
    for run in page["runs"]:
        run["job"] = jobs.get(run["run_id"])
    rows = _run_rows(page["runs"], run_url)

    state = [("filter", filter_string), ("order", order), ("size", str(size)), ("columns", "chosen")]
    state += [("cols", c["id"]) for c in columns]
    next_query = urlencode(
        [*state, ("page_token", page["next_page_token"] or ""), *[("prev", p) for p in [*previous, token]]]
    )
    prev_query = (
        urlencode([*state, ("page_token", previous[-1]), *[("prev", p) for p in previous[:-1]]])
        if previous
        else ""
    )
    headers = []
    for key, label in [*RUN_ATTRIBUTES, *[(c["order"], c["id"]) for c in columns]]:
        direction = "ASC" if order == f"{key} DESC" else "DESC"
        arrow = "↓" if order == f"{key} DESC" else "↑" if order == f"{key} ASC" else ""
        sort_query = urlencode([(k, v) for k, v in state if k != "order"] + [("order", f"{key} {direction}")])
        headers.append({"label": label, "query": sort_query, "arrow": arrow, "key": key})
    context = {
        "project": project,
        "experiment": experiment,
        "page": page,
        "rows": rows,
        "columns": columns,
        "offered": offered,
        "chosen": {c["id"] for c in columns},
        "filter": filter_string,
        "order": order,
        "size": size,
        "sizes": PAGE_SIZES,
        "error": error,
        "page_number": len(previous) + 1,
        "next_query": next_query if page["next_page_token"] else "",
        "prev_query": prev_query if previous else "",
        "has_prev": bool(previous),
        "headers": headers,
        "can_change": can(request.user, project, Need.CHANGE),
    }
    template = (
        "experiments/runs.html#runs" if request.htmx and not request.htmx.boosted else "experiments/runs.html"
    )
    return render(request, template, context)


def _run_rows(runs: list[dict], run_url: str) -> str:
    """The runs table's rows as HTML, escaped by format_html.

    Built here rather than in a template loop: a hundred rows of template nodes cost more
    than MLflow's own answer, and the page's overhead over MLflow has a budget (bench/).
    """
    label = _("Compare this run")
    rows = []
    for run in runs:
        started = ms_datetime(run["start_time"])
        job = run["job"]
        rows.append(
            format_html(
                '<tr class="run-row" data-run-id="{id}"><td><input type="checkbox" name="runs" value="{id}"'
                ' form="compare-form" aria-label="{label}"></td><td>{started}</td><td><a href="{url}">{name}</a>'
                '</td><td><span class="status status-{status_class}">{status}</span></td><td>{user}</td>{cells}'
                "<td>{job}</td></tr>",
                id=run["run_id"],
                label=label,
                started=started.strftime("%Y-%m-%d %H:%M") if started else "",
                url=f"{run_url}{run['run_id']}/",
                name=run["run_name"] or run["run_id"],
                status_class=run["status"].lower(),
                status=mlflow_state(run["status"]),
                user=run["user"],
                cells=format_html_join("", "<td>{}</td>", ((value,) for value in run["cells"])),
                job=format_html('<a href="{}">#{}</a>', job["url"], job["id"]) if job else "",
            )
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every piece went through format_html


# Runs ------------------------------------------------------------------------------------------


@mlflow_page
def run_detail(request: HttpRequest, slug: str, run_id: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    run = gateway.get_run(project.slug, run_id)
    job = Job.objects.filter(project=project, mlflow_run_id=run["run_id"]).first()
    if job is None and run["job_id"].isdigit():
        job = Job.objects.filter(project=project, pk=int(run["job_id"])).first()
    context = {
        "project": project,
        "run": run,
        "job": job,
        "job_url": job.get_absolute_url() if job else "",
        "user_tags": {k: v for k, v in run["tags"].items() if not k.startswith("mlflow.")},
    }
    return render(request, "experiments/run.html", context)


@mlflow_page
def run_history(request: HttpRequest, slug: str, run_id: str) -> JsonResponse:
    """One metric's history of one run, for the run page's chart."""
    project = get_project_for_user(request.user, slug)
    gateway.check_run(project.slug, run_id)
    key = request.GET.get("key", "")
    if not key:
        return JsonResponse({"error": _("Which metric? Add ?key=.")}, status=400)
    points = gateway.metric_histories([run_id], key, max_points=1000)[run_id]
    return JsonResponse({"key": key, "series": [{"run_id": run_id, "label": key, "points": points}]})


# Compare ---------------------------------------------------------------------------------------


def _run_ids(request: HttpRequest) -> list[str]:
    ids = []
    for value in request.GET.getlist("runs"):
        ids += [v.strip() for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(ids))


@mlflow_page
def compare(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    run_ids = _run_ids(request)
    context: dict = {"project": project, "runs": [], "error": ""}
    if not 2 <= len(run_ids) <= 10:
        context["error"] = _("Choose between 2 and 10 runs to compare (you chose %(n)d).") % {
            "n": len(run_ids)
        }
        return render(request, "experiments/compare.html", context, status=400)
    runs = gateway.get_runs(project.slug, run_ids)
    param_keys = sorted({k for run in runs for k in run["params"]})
    metric_keys = sorted({k for run in runs for k in run["metrics"]})
    params = []
    for key in param_keys:
        values = [run["params"].get(key, "") for run in runs]
        params.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    metrics = []
    for key in metric_keys:
        values = [run["metrics"].get(key) for run in runs]
        metrics.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    chosen = request.GET.get("metric") or (metric_keys[0] if metric_keys else "")
    context.update(
        {
            "runs": runs,
            "params": params,
            "metrics": metrics,
            "metric_keys": metric_keys,
            "metric": chosen,
            "run_query": urlencode([("runs", ",".join(run["run_id"] for run in runs))]),
            "labels": {run["run_id"]: run["run_name"] or run["run_id"][:8] for run in runs},
        }
    )
    return render(request, "experiments/compare.html", context)


@mlflow_page
def compare_history(request: HttpRequest, slug: str) -> JsonResponse:
    """One metric's history for every compared run, in one MLflow call: the overlaid chart."""
    project = get_project_for_user(request.user, slug)
    run_ids = _run_ids(request)[:10]
    key = request.GET.get("key", "")
    if not run_ids or not key:
        return JsonResponse({"error": _("Give runs and a metric key.")}, status=400)
    for run_id in run_ids:
        gateway.check_run(project.slug, run_id)
    histories = gateway.metric_histories(run_ids, key, max_points=500)
    series = [
        {"run_id": run_id, "label": run_id[:8], "points": histories.get(run_id, [])} for run_id in run_ids
    ]
    return JsonResponse({"key": key, "series": series})
