#!/usr/bin/env python3
"""What the schema cannot say: the rendered Kubernetes manifests keep the broker's deployment
rules (README, "Operating it"). Reads multi-document YAML files, such as `kubectl kustomize`
output, and exits non-zero listing every rule broken.

    deploy/check_manifests.py rendered-app.yaml rendered-migrate.yaml
"""

import sys

import yaml

HARDENED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
}


def pod_problems(where, pod, kind):
    problems = []
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True or not isinstance(security.get("runAsUser"), int):
        problems.append(f"{where}: pod securityContext needs runAsNonRoot: true and a numeric runAsUser")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false (no Kubernetes API access needed)")
    for c in pod.get("containers", []):
        cwhere = f"{where} container {c.get('name')}"
        csec = c.get("securityContext", {})
        for key, want in HARDENED_CONTAINER.items():
            if csec.get(key) is not want:
                problems.append(f"{cwhere}: securityContext.{key} must be {want}")
        if csec.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{cwhere}: capabilities.drop must be [ALL]")
        requests = c.get("resources", {}).get("requests", {})
        if not {"cpu", "memory"} <= requests.keys() or "memory" not in c.get("resources", {}).get("limits", {}):
            problems.append(f"{cwhere}: needs cpu and memory requests and a memory limit")
        env = {e["name"]: e for e in c.get("env", [])}
        if "secretKeyRef" not in env.get("DATABASE_URL", {}).get("valueFrom", {}):
            problems.append(f"{cwhere}: DATABASE_URL must come from a Secret")
        if "TOKENBROKER_MASTER_KEYS" in env:
            problems.append(f"{cwhere}: master keys must be a mounted file (TOKENBROKER_MASTER_KEY_FILE), not a variable")
        if kind == "Deployment":
            problems += serving_problems(cwhere, pod, c, env)
    return problems


def serving_problems(where, pod, container, env):
    problems = []
    for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
        if container.get(probe, {}).get("httpGet", {}).get("path") != path:
            problems.append(f"{where}: {probe} must GET {path}")
    key_file = env.get("TOKENBROKER_MASTER_KEY_FILE", {}).get("value", "")
    secret_mounts = {
        m["mountPath"]
        for m in container.get("volumeMounts", [])
        for v in pod.get("volumes", [])
        if v["name"] == m["name"] and "secret" in v
    }
    if not key_file or not any(key_file.startswith(m.rstrip("/") + "/") for m in secret_mounts):
        problems.append(f"{where}: TOKENBROKER_MASTER_KEY_FILE must point into a mounted Secret volume")
    return problems


def main(paths):
    problems = []
    kinds = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
            kinds.setdefault(kind, []).append(doc)
            where = f"{path}: {kind}/{name}"
            if kind == "Deployment":
                problems += pod_problems(where, doc["spec"]["template"]["spec"], kind)
                strategy = doc["spec"].get("strategy", {}).get("rollingUpdate", {})
                if strategy.get("maxUnavailable") != 0:
                    problems.append(f"{where}: rollingUpdate.maxUnavailable must be 0 (capacity never drops)")
            elif kind == "Job":
                problems += pod_problems(where, doc["spec"]["template"]["spec"], kind)
                args = doc["spec"]["template"]["spec"]["containers"][0].get("args")
                if args != ["migrate"]:
                    problems.append(f"{where}: the Job runs `migrate`, got {args}")
    for kind in ["Deployment", "Service", "PodDisruptionBudget", "Job", "ServiceAccount"]:
        if kind not in kinds:
            problems.append(f"no {kind} among {', '.join(paths)}")
    for pdb in kinds.get("PodDisruptionBudget", []):
        deployments = kinds.get("Deployment", [])
        replicas = max((d["spec"].get("replicas", 1) for d in deployments), default=1)
        available = pdb["spec"].get("minAvailable")
        if not (isinstance(available, int) and 0 < available < replicas):
            problems.append(f"PodDisruptionBudget: minAvailable must be a count from 1 to {replicas - 1}, got {available!r}")
    for p in problems:
        print(p)
    if not problems:
        print(f"{', '.join(paths)}: {sum(len(v) for v in kinds.values())} resources keep the deployment rules")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else "usage: check_manifests.py RENDERED.yaml…")
