#!/usr/bin/env python3
"""Run and test l10n_tr_iys. Called by scripts/run and scripts/test inside the project's own venv.

Standard library only until the requirements are installed. Finds Odoo 18.0 through, in order:
``ODOO_PATH`` (an Odoo source tree), an importable ``odoo`` package, or the addons_path of the
Odoo configuration file (``ODOO_RC`` or ``~/.odoorc``), exactly the way Odoo itself finds it.
PostgreSQL: the usual PGHOST, PGPORT, PGUSER and PGPASSWORD variables (then the Odoo
configuration file, then libpq's defaults).
"""

import argparse
import configparser
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = "l10n_tr_iys"
VENV = Path(sys.prefix)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / MODULE
SIMULATOR_PORT = int(os.environ.get("IYS_SIMULATOR_PORT", "8099"))
RUN_DB = os.environ.get("IYS_DB", "l10n_tr_iys_demo")
NOT_FOUND = "SKIPPED: Odoo 18.0 not found (set ODOO_PATH)"
ODOO_INSTALL_HINT = """\
Odoo 18.0 was not found. Install it in one of these ways, then run this command again:
  * upstream Odoo 18.0 from its official git repository (https://github.com/odoo/odoo, branch 18.0),
    then: export ODOO_PATH=/path/to/odoo   (the folder that holds odoo-bin)
  * or the official Docker image: docker compose up   (see docker-compose.yml in this addon)
  * or an Odoo configuration file (~/.odoorc or ODOO_RC) whose addons_path names the Odoo 18.0 addons."""
# Odoo 18's requirements pin lxml 4.9.3 on Python 3.11, with which a core mass_mailing test fails;
# 5.2.1 plus lxml-html-clean is what Odoo pins for Python 3.12 and works on 3.11 too.
REQUIREMENT_OVERRIDES = {"lxml": ["lxml==5.2.1", "lxml-html-clean"], "lxml-html-clean": []}
# Only auth_ldap needs python-ldap, and it needs system headers to build: not needed here.
REQUIREMENT_SKIP = {"python-ldap", "pypiwin32", "rl-renderpm"}


def log(msg=""):
    print(msg, flush=True)


def banner(title):
    log("")
    log("=" * 78)
    log(title)
    log("=" * 78)


# ---------------------------------------------------------------------------------------------
# Finding Odoo
# ---------------------------------------------------------------------------------------------
class Odoo:
    """Where Odoo lives and how to start it."""

    def __init__(self, python, argv_prefix, addons_paths, version, origin, rc_file=None):
        self.python = python
        self.argv_prefix = argv_prefix  # e.g. [python, /src/odoo-bin] or [python, -m, odoo]
        self.addons_paths = addons_paths
        self.version = version
        self.origin = origin
        self.rc_file = rc_file
        self.source = None

    def __repr__(self):
        return f"Odoo {self.version} ({self.origin})"


def _source_tree(path):
    path = Path(path).expanduser().resolve()
    if (path / "odoo-bin").is_file() and (path / "odoo" / "release.py").is_file():
        return path
    return None


def _release_version(release_py):
    text = Path(release_py).read_text(encoding="utf-8")
    match = re.search(r"version_info\s*=\s*\((\d+),\s*(\d+)", text)
    return f"{match.group(1)}.{match.group(2)}" if match else "?"


def _from_source(tree, origin, rc_file=None):
    addons = [str(tree / "odoo" / "addons")]
    if (tree / "addons").is_dir():
        addons.insert(0, str(tree / "addons"))
    odoo = Odoo(
        sys.executable,
        [sys.executable, str(tree / "odoo-bin")],
        addons,
        _release_version(tree / "odoo" / "release.py"),
        origin,
        rc_file,
    )
    odoo.source = tree
    return odoo


def odoo_rc_file():
    rc = os.environ.get("ODOO_RC") or os.environ.get("OPENERP_SERVER")
    if rc:
        return Path(rc).expanduser()
    return Path.home() / ".odoorc"


def read_rc():
    rc = odoo_rc_file()
    if not rc.is_file():
        return rc, {}
    parser = configparser.RawConfigParser()
    try:
        parser.read(rc, encoding="utf-8")
    except configparser.Error as exc:
        log(f"WARNING: cannot read {rc}: {exc}")
        return rc, {}
    return rc, dict(parser.items("options")) if parser.has_section("options") else {}


def find_odoo():
    """Return an Odoo instance, or None. Raises SystemExit on an explicit but wrong ODOO_PATH."""
    env_path = os.environ.get("ODOO_PATH")
    if env_path:
        tree = _source_tree(env_path)
        if not tree:
            sys.exit(f"ERROR: ODOO_PATH={env_path} is not an Odoo source tree (no odoo-bin and odoo/release.py).")
        return _from_source(tree, f"ODOO_PATH={tree}")
    # An importable odoo: in this venv first, then in the system's python3.
    for python in (sys.executable, shutil.which("python3")):
        if not python:
            continue
        probe = subprocess.run(
            [python, "-c", "import odoo, os, odoo.release as r; "
             "print(os.path.dirname(odoo.__file__)); print('%d.%d' % r.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if probe.returncode == 0:
            package_dir, version = probe.stdout.split()[:2]
            tree = _source_tree(Path(package_dir).parent)
            if tree:
                return _from_source(tree, f"importable odoo ({python})")
            return Odoo(python, [python, "-m", "odoo"], [str(Path(package_dir) / "addons")], version,
                        f"importable odoo ({python})")
    rc, options = read_rc()
    for entry in (options.get("addons_path") or "").split(","):
        entry = Path(entry.strip()).expanduser() if entry.strip() else None
        if not entry:
            continue
        for candidate in (entry.parent, entry.parent.parent):
            tree = _source_tree(candidate)
            if tree:
                return _from_source(tree, f"addons_path of {rc}", rc_file=rc)
    return None


# ---------------------------------------------------------------------------------------------
# Requirements
# ---------------------------------------------------------------------------------------------
def _requirement_name(line):
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)", line)
    return match.group(1).lower().replace("_", "-") if match else None


def odoo_requirements(odoo):
    """Odoo's own requirements.txt with the overrides that make it install and pass on Python 3.11."""
    if not odoo or not odoo.source or not (odoo.source / "requirements.txt").is_file():
        return []
    out, overridden = [], set()
    for raw in (odoo.source / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        name = _requirement_name(line)
        if not line or not name or name in REQUIREMENT_SKIP:
            continue
        if name in REQUIREMENT_OVERRIDES:
            if name not in overridden:
                out.extend(REQUIREMENT_OVERRIDES[name])
                overridden.add(name)
            continue
        out.append(line)
    return out


def ensure_requirements(odoo, dev=True):
    reqs = [line.strip() for line in (REPO / "scripts" / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    if dev:
        reqs += [line.strip() for line in (REPO / "scripts" / "requirements-dev.txt").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    reqs += odoo_requirements(odoo)
    if odoo and odoo.python != sys.executable:
        log(f"Odoo runs with {odoo.python}; its own Python packages are taken as installed there.")
    digest = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16]
    stamp = VENV / f".l10n_tr_iys-requirements-{digest}"
    if stamp.exists():
        return
    log(f"Installing {len(reqs)} requirements into {VENV} (once; this can take a few minutes)")
    with tempfile.TemporaryDirectory() as tmp:
        req_file = Path(tmp) / "requirements.txt"
        req_file.write_text("\n".join(reqs) + "\n")
        constraints = Path(tmp) / "constraints.txt"
        # Old sdists in Odoo's pins (e.g. psycopg2 2.9.5) do not build with setuptools >= 70.
        constraints.write_text("setuptools<70\n")
        env = dict(os.environ, PIP_CONSTRAINT=str(constraints), PIP_DISABLE_PIP_VERSION_CHECK="1")
        cmd = [sys.executable, "-m", "pip", "install", "-q", "-r", str(req_file)]
        result = subprocess.run(cmd, env=env, check=False)
        if result.returncode:
            sys.exit(f"ERROR: pip could not install the requirements (exit {result.returncode}).")
    for old in VENV.glob(".l10n_tr_iys-requirements-*"):
        old.unlink()
    stamp.touch()


# ---------------------------------------------------------------------------------------------
# PostgreSQL and Odoo command lines
# ---------------------------------------------------------------------------------------------
def db_options():
    _rc, options = read_rc()
    opts = []
    for env_name, opt_name in (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"),
                               ("PGPASSWORD", "db_password")):
        value = os.environ.get(env_name) or options.get(opt_name)
        if value and value.lower() != "false":
            opts.append(f"--{opt_name}={value}")
    return opts


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def addons_dir_with_module():
    """A temporary addons directory in which this repository is linked under its technical name."""
    tmp = Path(tempfile.mkdtemp(prefix="l10n_tr_iys_addons_"))
    (tmp / MODULE).symlink_to(REPO, target_is_directory=True)
    return tmp


def odoo_cmd(odoo, addons_tmp, db, *extra, data_dir=None):
    cmd = list(odoo.argv_prefix)
    if odoo.rc_file:
        cmd.append(f"--config={odoo.rc_file}")
    cmd += [
        f"--addons-path={','.join([*odoo.addons_paths, str(addons_tmp)])}",
        f"--database={db}",
        f"--db-filter=^{re.escape(db)}$",
        *db_options(),
    ]
    if data_dir:
        cmd.append(f"--data-dir={data_dir}")
    cmd += list(extra)
    return cmd


def psql_env():
    env = dict(os.environ)
    _rc, options = read_rc()
    for env_name, opt_name in (("PGHOST", "db_host"), ("PGPORT", "db_port"), ("PGUSER", "db_user"),
                               ("PGPASSWORD", "db_password")):
        if not env.get(env_name) and options.get(opt_name) and options[opt_name].lower() != "false":
            env[env_name] = options[opt_name]
    return env


def drop_db(db):
    if shutil.which("dropdb"):
        subprocess.run(["dropdb", "--if-exists", db], env=psql_env(), check=False, capture_output=True)
        return
    import psycopg2  # noqa: PLC0415 - installed with Odoo's requirements

    conn = psycopg2.connect(dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{db}"')
    conn.close()


def db_exists(db):
    result = subprocess.run(["psql", "-Atc", "SELECT 1 FROM pg_database WHERE datname = %s" % _sql_literal(db),
                             "postgres"], env=psql_env(), capture_output=True, text=True, check=False)
    return result.stdout.strip() == "1"


def _sql_literal(value):
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------------------------
class Tally:
    def __init__(self):
        self.rows = []

    def add(self, suite, passed, failed, skipped, note=""):
        self.rows.append((suite, passed, failed, skipped, note))
        log(f"[{suite}] {passed} passed, {failed} failed, {skipped} skipped{('  ' + note) if note else ''}")

    def totals(self):
        return tuple(sum(row[i] for row in self.rows) for i in (1, 2, 3))


def run_pytest(tally):
    banner("(a) İYS library: pytest")
    junit = Path(tempfile.mkstemp(prefix="iys-pytest-", suffix=".xml")[1])
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           str(REPO / "iyslib" / "tests")]
    rc = subprocess.run(cmd, cwd=REPO, check=False).returncode
    tests = failures = errors = skipped = 0
    try:
        root = ET.parse(junit).getroot()
        for suite in root.iter("testsuite"):
            tests += int(suite.get("tests", 0))
            failures += int(suite.get("failures", 0))
            errors += int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    except (ET.ParseError, FileNotFoundError):
        pass
    finally:
        junit.unlink(missing_ok=True)
    failed = failures + errors
    if rc not in (0, 5) and not failed:
        failed = 1  # pytest itself failed (collection error, crash)
    if rc == 5 or tests == 0:
        failed = max(failed, 1)
        log("pytest collected no test: that is a failure here.")
    tally.add("library", tests - failed - skipped, failed, skipped)


def _lint_step(tally, name, func):
    try:
        problems = func()
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failing check
        problems = [f"{type(exc).__name__}: {exc}"]
    if problems:
        log(f"FAIL {name}:")
        for problem in problems:
            log(f"    {problem}")
        tally.add(f"lint:{name}", 0, 1, 0)
    else:
        tally.add(f"lint:{name}", 1, 0, 0)


def tracked_files(*suffixes):
    result = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    if result.returncode:
        files = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".git" not in p.parts]
    else:
        files = result.stdout.split()
    return [REPO / f for f in files if f.endswith(suffixes) and (REPO / f).exists()]


def lint_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO,
                            capture_output=True, text=True, check=False)
    return [] if result.returncode == 0 else (result.stdout + result.stderr).strip().splitlines()


def lint_pylint_odoo():
    """pylint-odoo on the Odoo layer, seen under the addon's technical name (the checks use it)."""
    # The pure library, the scripts and the benchmarks are not Odoo addon code: ruff covers them.
    files = [p.relative_to(REPO) for p in tracked_files(".py")
             if p.relative_to(REPO).parts[0] not in ("iyslib", "scripts", "bench")]
    if not files:
        return []
    addons_tmp = addons_dir_with_module()
    try:
        cmd = [sys.executable, "-m", "pylint", f"--rcfile={REPO / '.pylintrc'}", "--score=n",
               *(str(Path(MODULE) / f) for f in files)]
        result = subprocess.run(cmd, cwd=addons_tmp, capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(addons_tmp, ignore_errors=True)
    out = [line for line in (result.stdout + result.stderr).splitlines()
           if line.strip() and not line.startswith("*****")]
    return out if result.returncode else []


def lint_xml():
    from lxml import etree  # noqa: PLC0415 - installed by the requirements

    problems = []
    for path in tracked_files(".xml"):
        try:
            tree = etree.parse(str(path))
        except etree.XMLSyntaxError as exc:
            problems.append(f"{path.relative_to(REPO)}: {exc}")
            continue
        root = tree.getroot()
        if path.parts[-2] in ("views", "data", "security", "demo", "wizards") and root.tag != "odoo":
            problems.append(f"{path.relative_to(REPO)}: root element is <{root.tag}>, expected <odoo>")
        for node in root.iter("tree"):
            problems.append(f"{path.relative_to(REPO)}:{node.sourceline}: <tree> is <list> in Odoo 18")
        for node in root.iter():
            if isinstance(node.tag, str) and node.get("attrs") is not None:
                problems.append(f"{path.relative_to(REPO)}:{node.sourceline}: attrs= is refused since Odoo 17")
    return problems


def lint_csv():
    import csv  # noqa: PLC0415

    problems = []
    for path in tracked_files(".csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            problems.append(f"{path.relative_to(REPO)}: empty")
            continue
        width = len(rows[0])
        ids = set()
        for number, row in enumerate(rows[1:], start=2):
            if len(row) != width:
                problems.append(f"{path.relative_to(REPO)}:{number}: {len(row)} columns, header has {width}")
            if row and row[0] in ids:
                problems.append(f"{path.relative_to(REPO)}:{number}: duplicate id {row[0]}")
            ids.add(row[0] if row else None)
        if path.name == "ir.model.access.csv":
            expected = ["id", "name", "model_id:id", "group_id:id", "perm_read", "perm_write", "perm_create",
                        "perm_unlink"]
            if rows[0] != expected:
                problems.append(f"{path.relative_to(REPO)}: header {rows[0]} != {expected}")
    return problems


def lint_manifest():
    import ast  # noqa: PLC0415

    manifest = ast.literal_eval((REPO / "__manifest__.py").read_text(encoding="utf-8"))
    problems = []
    if not re.fullmatch(r"18\.0\.\d+\.\d+\.\d+", manifest.get("version", "")):
        problems.append(f"version {manifest.get('version')!r} is not 18.0.x.y.z")
    if manifest.get("license") != "LGPL-3":
        problems.append("license must be LGPL-3")
    for key in ("name", "summary", "author", "website", "depends", "data"):
        if not manifest.get(key):
            problems.append(f"missing {key}")
    for key in ("data", "demo", "assets"):
        files = manifest.get(key) or []
        if isinstance(files, dict):
            files = [f for paths in files.values() for f in paths if isinstance(f, str)]
        for rel in files:
            rel = rel.split(f"{MODULE}/", 1)[-1] if rel.startswith(MODULE) else rel
            if "*" not in rel and not (REPO / rel).exists():
                problems.append(f"{key} file {rel} does not exist")
    declared = set(manifest.get("external_dependencies", {}).get("python", []))
    for name in ("phonenumbers", "email_validator", "requests", "holidays"):
        if name not in declared:
            problems.append(f"external_dependencies is missing {name}")
    for xml in tracked_files(".xml"):
        rel = str(xml.relative_to(REPO))
        top = rel.split("/", 1)[0]
        if top in ("views", "data", "security", "wizards", "demo") and rel not in (
            manifest.get("data", []) + manifest.get("demo", [])
        ):
            problems.append(f"{rel} is not loaded by the manifest")
    if not (REPO / "static" / "description" / "icon.png").is_file():
        problems.append("static/description/icon.png is missing")
    return problems


def lint_readme():
    """README.rst (the addon's description on the apps store) must render without warnings."""
    import docutils.core  # noqa: PLC0415 - installed by the requirements
    import docutils.utils  # noqa: PLC0415

    try:
        docutils.core.publish_doctree(
            (REPO / "README.rst").read_text(encoding="utf-8"),
            settings_overrides={"report_level": 2, "halt_level": 2, "warning_stream": False},
        )
    except docutils.utils.SystemMessage as exc:
        return [f"README.rst: {exc}"]
    return []


def run_lint(tally):
    banner("(b) Lint: ruff, pylint-odoo (OCA checks), XML, CSV, manifest")
    _lint_step(tally, "ruff", lint_ruff)
    _lint_step(tally, "pylint-odoo", lint_pylint_odoo)
    _lint_step(tally, "xml", lint_xml)
    _lint_step(tally, "csv", lint_csv)
    _lint_step(tally, "manifest", lint_manifest)
    _lint_step(tally, "readme", lint_readme)


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (\w+) ")
RESULT_LINE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database")


def _run_logged(cmd, log_path, timeout, env=None):
    """Run an Odoo command, log to a file, echo what matters: errors, warnings, test progress."""
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
    return rc, time.monotonic() - started


def analyse_odoo_log(log_path, echo=True):
    """Return (tests_run, failed, errors, skipped, error_blocks, result_seen)."""
    text = Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()
    run = failed = errors = skipped = 0
    result_seen = False
    blocks, current = [], None
    for line in text:
        match = LOG_LINE.match(line)
        if match:
            level = match.group(1)
            if current is not None:
                blocks.append(current)
                current = None
            if level in ("ERROR", "CRITICAL") and "odoo.tests.result:" not in line:
                current = [line]
            result = RESULT_LINE.search(line)
            if result:
                result_seen = True
                failed, errors, run = (int(x) for x in result.groups())
            if " skipped " in line and "odoo.tests" in line:
                skipped += 1
            if echo and (level in ("WARNING", "ERROR", "CRITICAL") or ": Starting " in line
                         or "odoo.tests.stats" in line or RESULT_LINE.search(line)):
                log("    " + line[:400])
        elif current is not None:
            current.append(line)
            if echo:
                log("    " + line[:400])
    if current is not None:
        blocks.append(current)
    return run, failed, errors, skipped, blocks, result_seen


def run_odoo_tests(tally, odoo, args):
    banner(f"(c) Odoo tests in real {odoo!r}")
    addons_tmp = addons_dir_with_module()
    data_dir = Path(tempfile.mkdtemp(prefix="l10n_tr_iys_data_"))
    db = f"iys_test_{os.getpid()}_{int(time.time()) % 100000}"
    log_path = Path(tempfile.gettempdir()) / f"{db}.log"
    tags = os.environ.get("IYS_TEST_TAGS", f"/{MODULE}")
    try:
        cmd = odoo_cmd(
            odoo, addons_tmp, db,
            f"--init={MODULE}", "--test-enable", f"--test-tags={tags}", "--stop-after-init",
            "--log-level=test", f"--http-port={free_port()}", "--max-cron-threads=0", "--workers=0",
            data_dir=data_dir,
        )
        log("$ " + " ".join(cmd))
        rc, seconds = _run_logged(cmd, log_path, timeout=int(os.environ.get("IYS_ODOO_TIMEOUT", "3600")))
        run, failed, errors, skipped, blocks, seen = analyse_odoo_log(log_path)
        bad = failed + errors
        note = f"(exit {rc}, {seconds:.0f}s, full log: {log_path})"
        if not seen:
            log("No test result line in Odoo's log: the install or the run broke.")
            bad = max(bad, 1)
        extra_errors = len(blocks) - bad
        if extra_errors > 0:
            # ERROR lines outside test failures (install problems, broken views...) fail the run too.
            log(f"{extra_errors} ERROR log record(s) besides test failures; see above.")
            bad += extra_errors
        if rc != 0 and not bad:
            bad = 1
        if run == 0 and seen:
            log("Odoo ran no test of l10n_tr_iys: that is a failure here.")
            bad = max(bad, 1)
        tally.add("odoo", max(run - failed - errors - skipped, 0), bad, skipped, note)
        if seen:
            check_translations(tally, odoo, addons_tmp, db, data_dir, update=args.update_i18n)
        if not args.keep_db:
            drop_db(db)
        else:
            log(f"Database kept: {db}")

        if os.environ.get("IYS_SKIP_NODEMO") != "1":
            banner("(c2) Install without demo data")
            db2 = db + "_nodemo"
            log_path2 = Path(tempfile.gettempdir()) / f"{db2}.log"
            cmd = odoo_cmd(odoo, addons_tmp, db2, f"--init={MODULE}", "--without-demo=all", "--stop-after-init",
                           f"--http-port={free_port()}", "--max-cron-threads=0", "--workers=0",
                           data_dir=data_dir)
            rc, seconds = _run_logged(cmd, log_path2, timeout=3600)
            _r, _f, _e, _s, blocks, _seen = analyse_odoo_log(log_path2)
            ok = rc == 0 and not blocks
            tally.add("odoo:install-without-demo", int(ok), int(not ok), 0, f"(exit {rc}, {seconds:.0f}s)")
            drop_db(db2)
    finally:
        shutil.rmtree(addons_tmp, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def check_translations(tally, odoo, addons_tmp, db, data_dir, update=False):
    """Every translatable term of the addon (exported by Odoo itself) has a Turkish translation."""
    import polib  # noqa: PLC0415 - installed with Odoo's requirements

    banner("(c3) Translations: every term exported by Odoo has a Turkish msgstr in i18n/tr.po")
    pot_path = Path(tempfile.gettempdir()) / f"{db}.pot"
    cmd = odoo_cmd(odoo, addons_tmp, db, f"--i18n-export={pot_path}", f"--modules={MODULE}", "--stop-after-init",
                   f"--http-port={free_port()}", "--workers=0", "--max-cron-threads=0", data_dir=data_dir)
    rc, _seconds = _run_logged(cmd, pot_path.with_suffix(".export.log"), timeout=600)
    if rc != 0 or not pot_path.exists():
        log(f"Odoo could not export the terms (exit {rc}).")
        tally.add("i18n", 0, 1, 0)
        return
    pot = polib.pofile(str(pot_path))
    po_path = REPO / "i18n" / "tr.po"
    po = polib.pofile(str(po_path if po_path.exists() else pot_path))
    if update:
        shutil.copy(pot_path, REPO / "i18n" / f"{MODULE}.pot")
        po.merge(pot)
        po.metadata.update({
            "Project-Id-Version": "Odoo Server 18.0",
            "Language": "tr",
            "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=UTF-8",
            "Content-Transfer-Encoding": "8bit",
            "Plural-Forms": "nplurals=2; plural=(n > 1);",
        })
        po.save(str(po_path))
        log(f"Updated i18n/{MODULE}.pot and merged new terms into i18n/tr.po")
    if not po_path.exists():
        log("WARNING: i18n/tr.po does not exist yet (create it with --update-i18n); not enforced until it does.")
        pot_path.unlink(missing_ok=True)
        return
    translated = {(e.msgctxt, e.msgid) for e in po if e.msgstr and not e.obsolete and "fuzzy" not in e.flags}
    missing = [e.msgid for e in pot if (e.msgctxt, e.msgid) not in translated]
    placeholder = re.compile(r"%\(\w+\)[sdr]|%[sdr]")
    broken = [
        e.msgid for e in po
        if e.msgstr and not e.obsolete
        and sorted(placeholder.findall(e.msgid)) != sorted(placeholder.findall(e.msgstr))
    ]
    if broken:
        log(f"{len(broken)} translation(s) whose placeholders differ from the English, e.g.:")
        for msgid in broken[:15]:
            log(f"    {msgid[:100]!r}")
        missing += broken
    pot_path.unlink(missing_ok=True)
    if missing:
        log(f"{len(missing)} term(s) without a Turkish translation, e.g.:")
        for msgid in missing[:15]:
            log(f"    {msgid[:100]!r}")
        tally.add("i18n", 0, 1, 0, f"({len(pot)} terms, {len(missing)} untranslated)")
    else:
        tally.add("i18n", 1, 0, 0, f"({len(pot)} terms, all translated)")


def cmd_test(args):
    started = time.monotonic()
    odoo = find_odoo()
    ensure_requirements(odoo)
    tally = Tally()
    if not args.odoo_only:
        run_pytest(tally)
        run_lint(tally)
    if odoo:
        run_odoo_tests(tally, odoo, args)
    else:
        banner("(c) Odoo tests")
        log("!" * 78)
        log(NOT_FOUND)
        log("!" * 78)
    passed, failed, skipped = tally.totals()
    banner(f"Summary ({time.monotonic() - started:.0f}s)")
    for suite, p, f, s, _note in tally.rows:
        log(f"  {suite:<28} {p:>5} passed {f:>3} failed {s:>3} skipped")
    if not odoo:
        log(f"  {'odoo':<28} {NOT_FOUND}")
    log(f"TOTAL: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------
def _port_open(port):
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cmd_run(args):
    odoo = find_odoo()
    if not odoo:
        log(ODOO_INSTALL_HINT)
        return 2
    ensure_requirements(odoo, dev=False)
    CACHE.mkdir(parents=True, exist_ok=True)
    children = []

    def stop_children(*_args):
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, lambda *a: (stop_children(), sys.exit(0)))
    if _port_open(SIMULATOR_PORT):
        log(f"İYS simulator: something already listens on 127.0.0.1:{SIMULATOR_PORT}; using it.")
    else:
        sim_cmd = [sys.executable, "-m", "iyslib.simulator", "--host", "127.0.0.1", "--port", str(SIMULATOR_PORT),
                   "--db", str(CACHE / "simulator.sqlite")]
        children.append(subprocess.Popen(sim_cmd, cwd=REPO, start_new_session=True))
        for _ in range(50):
            if _port_open(SIMULATOR_PORT):
                break
            time.sleep(0.2)
        else:
            stop_children()
            log("ERROR: the İYS simulator did not start.")
            return 1
        log(f"İYS simulator: http://127.0.0.1:{SIMULATOR_PORT} (state kept in {CACHE / 'simulator.sqlite'})")

    addons_tmp = CACHE / "addons"
    addons_tmp.mkdir(parents=True, exist_ok=True)
    link = addons_tmp / MODULE
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(REPO, target_is_directory=True)
    data_dir = CACHE / "data"
    port = args.port
    mode = f"--update={MODULE}" if db_exists(RUN_DB) else f"--init={MODULE}"
    log(f"Preparing database {RUN_DB} ({'upgrade' if mode.startswith('--update') else 'install with demo data'})")
    prep = subprocess.run(odoo_cmd(odoo, addons_tmp, RUN_DB, mode, "--stop-after-init", "--workers=0",
                                   "--max-cron-threads=0", f"--http-port={free_port()}", data_dir=data_dir),
                          check=False)
    if prep.returncode:
        stop_children()
        log("ERROR: Odoo could not install or upgrade the addon; see the log above.")
        return prep.returncode
    cmd = odoo_cmd(odoo, addons_tmp, RUN_DB, f"--http-port={port}", "--http-interface=127.0.0.1",
                   "--workers=0", data_dir=data_dir)
    server = subprocess.Popen(cmd, start_new_session=True)
    children.append(server)
    for _ in range(150):
        if _port_open(port):
            break
        time.sleep(0.2)
    log("")
    log("=" * 78)
    log(f"Odoo 18.0 with l10n_tr_iys is running: http://127.0.0.1:{port}/web/login")
    log(f"Database: {RUN_DB}    Login: admin    Password: admin")
    log("Stop with Ctrl+C.")
    log("=" * 78)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_children()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the İYS simulator and Odoo with the addon and demo data")
    run.add_argument("--port", type=int, default=int(os.environ.get("IYS_HTTP_PORT", "8069")))
    test = sub.add_parser("test", help="run every suite that can run here")
    test.add_argument("--keep-db", action="store_true", help="keep the Odoo test database")
    test.add_argument("--odoo-only", action="store_true", help="only the Odoo suite (development)")
    test.add_argument("--update-i18n", action="store_true",
                      help="write i18n/l10n_tr_iys.pot from the test database and merge new terms into i18n/tr.po")
    args = parser.parse_args()
    os.chdir(REPO)
    return cmd_run(args) if args.command == "run" else cmd_test(args)


if __name__ == "__main__":
    sys.exit(main())
