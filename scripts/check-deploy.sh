#!/usr/bin/env bash
# Checks the deployment files without running them (.ci/run runs it; so can you):
#   - deploy/prometheus: `promtool check rules`, the rules' unit tests (`promtool test rules`),
#     `promtool check config`;
#   - deploy/grafana/koolicense.json: valid JSON, every panel on the templated data source, every
#     query valid PromQL (parsed by promtool);
#   - every koolicense_* metric the rules and the dashboard use is one the server exports;
#   - deploy/nginx.conf and deploy/nginx-compose.conf: `nginx -t` inside a minimal nginx.conf
#     with a self-signed certificate from deploy/make-cert.sh;
#   - deploy/koolicense.service and the backup service and timer: `systemd-analyze verify`;
#   - deploy/compose.yaml: YAML, the services and files it names, and `docker compose config`
#     (or the older `docker-compose config`) where one is installed (no engine needed);
#   - deploy/Dockerfile: runs as a non-root user and has a HEALTHCHECK (it is not built: that
#     takes a Docker engine).
#
#   bash scripts/check-deploy.sh
#
# Installs promtool (package prometheus), nginx, openssl, systemd-analyze and PyYAML with apt-get
# when they are missing, as .ci/run does for its tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# A Python with PyYAML: this one, else the distribution's (installing python3-yaml if needed).
PYTHON=python3
if ! "$PYTHON" -c 'import yaml' 2>/dev/null; then
  PYTHON=/usr/bin/python3
  if ! "$PYTHON" -c 'import yaml' 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {
  echo "--- check-deploy: $1"
}

# --- Prometheus -----------------------------------------------------------------------------
check "promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts.test.yml"
promtool test rules deploy/prometheus/alerts.test.yml
check "promtool check config deploy/prometheus/prometheus.yml"
# rule_files are resolved against the config file's directory, so this works from anywhere.
promtool check config deploy/prometheus/prometheus.yml

# Every alert has a test that fires it and one that does not.
"$PYTHON" - deploy/prometheus/alerts.yml deploy/prometheus/alerts.test.yml <<'EOF'
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
tests = yaml.safe_load(open(sys.argv[2]))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
fired, quiet = set(), set()
for t in tests["tests"]:
    for case in t.get("alert_rule_test", []):
        (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
problems = [f"{a}: no test that fires it" for a in sorted(alerts - fired)]
problems += [f"{a}: no test where it stays quiet" for a in sorted(alerts - quiet)]
for g in rules["groups"]:
    for r in g["rules"]:
        if "alert" not in r:
            continue
        if "for" not in r:
            problems.append(f"{r['alert']}: no `for:`")
        if r.get("labels", {}).get("severity") not in ("warning", "critical"):
            problems.append(f"{r['alert']}: severity is not warning or critical")
        ann = r.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            if not ann.get(key):
                problems.append(f"{r['alert']}: no {key} annotation")
        if ann.get("runbook") != f"docs/runbook.md#{r['alert'].lower()}":
            problems.append(f"{r['alert']}: runbook should be docs/runbook.md#{r['alert'].lower()}")
if problems:
    sys.exit("alerts.yml:\n  " + "\n  ".join(problems))
print(f"  {len(alerts)} alerts, each with a firing and a quiet test, for:, severity and annotations")
EOF

# Every runbook anchor the alerts name is a heading of docs/runbook.md.
check "docs/runbook.md has a section for every alert"
"$PYTHON" - deploy/prometheus/alerts.yml docs/runbook.md <<'EOF'
import re, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
anchors = set()
# Headings outside fenced code (a shell comment in a code block is not one).
text = re.sub(r"```.*?```", "", open(sys.argv[2], encoding="utf-8").read(), flags=re.S)
for line in text.splitlines():
    m = re.match(r"#+\s+(.*)", line)
    if m:
        # GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
        anchors.add(slug.replace(" ", "-"))
missing = sorted({r["annotations"]["runbook"].split("#", 1)[1]
                  for g in rules["groups"] for r in g["rules"] if "alert" in r}
                 - anchors)
if missing:
    sys.exit("docs/runbook.md has no heading for: " + ", ".join(missing))
print("  every runbook link resolves")
EOF

# Every relative link of the operator docs names an existing file, and an existing heading.
check "links in docs/*.md"
"$PYTHON" - docs/*.md <<'EOF'
import os, re, sys
def anchors(path):
    found = set()
    text = re.sub(r"```.*?```", "", open(path, encoding="utf-8").read(), flags=re.S)
    for line in text.splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            found.add(slug.replace(" ", "-"))
    return found
problems = []
for doc in sys.argv[1:]:
    text = open(doc, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(full):
            problems.append(f"{doc}: {target}: no such file")
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            problems.append(f"{doc}: {target}: no such heading")
if problems:
    sys.exit("\n".join(problems))
print(f"  {len(sys.argv) - 1} documents, every relative link resolves")
EOF

# --- Grafana --------------------------------------------------------------------------------
check "deploy/grafana/koolicense.json"
"$PYTHON" -m json.tool deploy/grafana/koolicense.json >/dev/null
# Every panel on the templated data source; every query written out as a recording rule with
# Grafana's variables replaced, so that promtool parses it as PromQL.
"$PYTHON" - deploy/grafana/koolicense.json "$tmp/dashboard-rules.yml" <<'EOF'
import json, sys, yaml
dash = json.load(open(sys.argv[1]))
names = [v["name"] for v in dash["templating"]["list"]]
assert "datasource" in names, "no templated datasource variable"
problems, exprs = [], []
def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))
ids = set()
for p in walk(dash["panels"]):
    if p["id"] in ids:
        problems.append(f"panel id {p['id']} used twice")
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"panel {p['title']!r}: not on ${{datasource}}")
    if not p.get("targets"):
        problems.append(f"panel {p['title']!r}: no query")
    for t in p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {p['title']!r}: a query not on ${{datasource}}")
        exprs.append((p["title"], t["expr"]))
if problems:
    sys.exit("koolicense.json:\n  " + "\n  ".join(problems))
def promql(e):
    return (e.replace("$__rate_interval", "5m").replace("$__interval", "1m")
             .replace("$instance", ".*"))
rules = [{"record": f"dashboard_query_{i}", "expr": promql(e)} for i, (_, e) in enumerate(exprs)]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
print(f"  {len(ids)} panels, {len(exprs)} queries")
EOF
promtool check rules "$tmp/dashboard-rules.yml" >/dev/null

# --- Metric names -----------------------------------------------------------------------------
# The names the server exports (src/metrics.rs, src/db/mod.rs, rejections.rs, src/ops): a typo in
# a rule or a panel would otherwise only show as an alert that never fires.
check "metric names in the rules and the dashboard"
"$PYTHON" - deploy/prometheus/alerts.yml deploy/grafana/koolicense.json <<'EOF'
import re, sys
histograms = ["koolicense_http_request_duration_seconds", "koolicense_db_pool_wait_seconds",
              "koolicense_db_pool_held_seconds"]
known = {h + s for h in histograms for s in ("", "_bucket", "_sum", "_count")} | {
    "koolicense_http_requests_total", "koolicense_http_connections_open",
    "koolicense_http_request_timeouts_total", "koolicense_http_connections_shed_total",
    "koolicense_memory_releases_total", "koolicense_marketplace_rejected_calls_total",
    "koolicense_marketplace_failed_orders_this_month", "koolicense_marketplace_delisting_threshold",
    "koolicense_marketplace_calls_24h", "koolicense_marketplace_errors_24h",
    "koolicense_marketplace_last_success_timestamp_seconds", "koolicense_uploads",
    "koolicense_upload_oldest_pending_age_seconds", "koolicense_jobs_failed",
    "koolicense_signing_key_active_age_seconds", "koolicense_signing_key_active_current",
}
unknown = set()
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    for name in re.findall(r"\b(koolicense_[a-z0-9_]+)\b", text):
        if name not in known:
            unknown.add(f"{path}: {name}")
if unknown:
    sys.exit("unknown metrics:\n  " + "\n  ".join(sorted(unknown)))
print("  every koolicense_* name is an exported metric")
EOF

# --- nginx ----------------------------------------------------------------------------------
# The shipped files are server blocks (and an upstream) for nginx's http {} block. Each is tested
# inside a minimal nginx.conf, its certificate paths pointing at a fresh self-signed pair and the
# compose service names at 127.0.0.1 (nginx resolves upstream names when it reads the file).
bash deploy/make-cert.sh "$tmp/certs" >/dev/null
[ "$(stat -c %a "$tmp/certs/key.pem")" = 600 ] || { echo "make-cert.sh: key.pem is not 0600" >&2; exit 1; }
for conf in deploy/nginx.conf deploy/nginx-compose.conf; do
  check "nginx -t $conf"
  site="$tmp/deploy-$(basename "$conf")"
  sed -E \
    -e "s#^([[:space:]]*ssl_certificate)[[:space:]]+[^;]+;#\\1 $tmp/certs/cert.pem;#" \
    -e "s#^([[:space:]]*ssl_certificate_key)[[:space:]]+[^;]+;#\\1 $tmp/certs/key.pem;#" \
    -e 's#\bnode([0-9]+):8080#127.0.0.1:808\1#g' \
    "$conf" >"$site"
  grep -q "ssl_certificate $tmp/certs/cert.pem;" "$site" &&
    grep -q "ssl_certificate_key $tmp/certs/key.pem;" "$site" ||
    { echo "$conf: no ssl_certificate/ssl_certificate_key lines to point at the test certificate" >&2; exit 1; }
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    include $site;
}
EOF
  "$NGINX" -t -q -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
done

# --- systemd --------------------------------------------------------------------------------
# Verified from a copy whose ExecStart names an existing binary (/bin/true) instead of
# /usr/local/bin/koolicense. systemd-analyze exits 0 on unknown keys and unparseable values
# (it only logs them), so any message fails the check except a missing user, which only the
# target machine has.
check "systemd-analyze verify deploy/koolicense.service deploy/koolicense-backup.{service,timer}"
mkdir -p "$tmp/systemd"
for unit in koolicense.service koolicense-backup.service koolicense-backup.timer; do
  sed 's#/usr/local/bin/koolicense#/bin/true#g' "deploy/$unit" >"$tmp/systemd/$unit"
done
set +e
verify=$(cd "$tmp/systemd" && systemd-analyze verify \
  koolicense.service koolicense-backup.service koolicense-backup.timer 2>&1)
status=$?
set -e
problems=$(grep -viE "user .*(not found|does not exist)|failed to resolve user|no such user" <<<"$verify" || true)
if [ "$status" -ne 0 ] || [ -n "$problems" ]; then
  echo "$verify" >&2
  exit 1
fi

# --- compose and Dockerfile -----------------------------------------------------------------
check "deploy/compose.yaml"
"$PYTHON" - deploy/compose.yaml <<'EOF'
import os, sys, yaml
path = sys.argv[1]
base = os.path.dirname(path)
c = yaml.safe_load(open(path))
s = c["services"]
problems = []
for name in ("db", "node1", "node2", "nginx"):
    if name not in s:
        problems.append(f"no service {name}")
if problems:
    sys.exit("compose.yaml:\n  " + "\n  ".join(problems))
if "pg_isready" not in " ".join(s["db"].get("healthcheck", {}).get("test", [])):
    problems.append("db: no pg_isready healthcheck")
for node in ("node1", "node2"):
    env = s[node]["environment"]
    if env.get("KOOLICENSE_NODE_ID") != node:
        problems.append(f"{node}: KOOLICENSE_NODE_ID is {env.get('KOOLICENSE_NODE_ID')!r}")
    if not str(env.get("KOOLICENSE_DATABASE_URL", "")).startswith("postgres://"):
        problems.append(f"{node}: not on PostgreSQL")
    if s[node].get("depends_on", {}).get("db", {}).get("condition") != "service_healthy":
        problems.append(f"{node}: does not wait for a healthy db")
    if not any(v.endswith(":/keys:ro") for v in s[node].get("volumes", [])):
        problems.append(f"{node}: keys not mounted read-only at /keys")
if s["node2"]["depends_on"].get("node1", {}).get("condition") != "service_healthy":
    problems.append("node2: does not wait for node1 (which migrates a fresh database)")
# Every file or directory mounted from the checkout exists (certs, keys and secrets.env are made
# by the operator and ignored by git).
made_by_operator = {"./certs", "./keys"}
for name, svc in s.items():
    for v in svc.get("volumes", []):
        src = v.split(":", 1)[0]
        if src.startswith(".") and src not in made_by_operator and not os.path.exists(os.path.join(base, src)):
            problems.append(f"{name}: mounts {src}, which does not exist")
    build = svc.get("build")
    if build:
        dockerfile = os.path.join(base, build["context"], build["dockerfile"])
        if not os.path.exists(dockerfile):
            problems.append(f"{name}: no {dockerfile}")
if not os.path.exists(os.path.join(base, "secrets.env.example")):
    problems.append("no secrets.env.example")
if problems:
    sys.exit("compose.yaml:\n  " + "\n  ".join(problems))
print(f"  services: {', '.join(s)}")
EOF
# The compose tools validate the file against the compose schema without an engine. env_file
# must exist: they check a copy of deploy/ with the example as secrets.env.
cp -r deploy "$tmp/deploy"
cp deploy/secrets.env.example "$tmp/deploy/secrets.env"
if docker compose version >/dev/null 2>&1; then
  docker compose -f "$tmp/deploy/compose.yaml" --profile monitoring config --quiet
  echo "  docker compose config: ok"
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f "$tmp/deploy/compose.yaml" --profile monitoring config --quiet
  echo "  docker-compose config: ok"
else
  echo "  neither docker compose nor docker-compose is installed: YAML and structure checked only"
fi

check "deploy/Dockerfile"
user=$(awk 'toupper($1) == "USER" { u = $2 } END { print u }' deploy/Dockerfile)
if [ -z "$user" ] || [ "$user" = root ] || [ "$user" = 0 ]; then
  echo "deploy/Dockerfile: the runtime image must end on a non-root USER (found '${user:-none}')" >&2
  exit 1
fi
grep -q '^HEALTHCHECK ' deploy/Dockerfile ||
  { echo "deploy/Dockerfile: no HEALTHCHECK" >&2; exit 1; }
echo "  runs as $user, has a HEALTHCHECK (not built: no Docker engine needed by this check)"

for script in deploy/make-cert.sh scripts/check-deploy.sh; do
  bash -n "$script"
  [ -x "$script" ] || { echo "$script is not executable" >&2; exit 1; }
done
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck deploy/make-cert.sh scripts/check-deploy.sh
fi

echo "--- check-deploy: all deployment files check out"
