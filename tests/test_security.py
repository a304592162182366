"""Encryption at rest: the file holds no plaintext of the survey, the key is needed and checked,
never lands in an error message, and an unencrypted database migrates to an encrypted one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import supplychain as sc
from supplychain.db import is_encrypted, read_key_file
from supplychain.exceptions import SupplyChainError

from .conftest import SAMPLE

KEY = "correct horse battery staple 7f3a"


@pytest.fixture(scope="module")
def plain_sample(tmp_path_factory):
    """The sample in an unencrypted file, and the names (6 characters or more) and corporate
    numbers of its companies: what must not be readable in an encrypted file."""
    path = tmp_path_factory.mktemp("plain") / "plain.duckdb"
    con = sc.connect(path)
    sc.ingest(con, SAMPLE)
    names = [n for (n,) in con.execute("SELECT DISTINCT name FROM company WHERE length(name) >= 6").fetchall()]
    numbers = [n for (n,) in con.execute("SELECT corporate_number FROM company WHERE corporate_number IS NOT NULL").fetchall()]
    con.close()
    assert len(names) > 100 and len(numbers) > 100  # the check looks for something
    # every fifth of each, sorted: 200-odd strings, enough to find a leak and scanned in a second
    return path, sorted(names)[::5] + sorted(numbers)[::5]


def _plaintext(path: Path, secrets: list[str]) -> list[str]:
    """The ``secrets`` found in the bytes of ``path`` and its write-ahead log."""
    data = path.read_bytes()
    wal = Path(str(path) + ".wal")
    if wal.exists():
        data += wal.read_bytes()
    return [s for s in secrets if s.encode("utf-8") in data]


@pytest.fixture(scope="module")
def encrypted_sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("enc") / "sample.duckdb"
    con = sc.connect(path, encryption_key=KEY)
    sc.ingest(con, SAMPLE)
    con.close()
    return path


def test_an_encrypted_database_holds_no_plaintext_of_the_survey(encrypted_sample, plain_sample):
    plain, secrets = plain_sample
    assert is_encrypted(encrypted_sample)
    assert _plaintext(encrypted_sample, secrets) == []
    # the same data unencrypted does show them: the check can fail
    assert not is_encrypted(plain)
    assert len(_plaintext(plain, secrets)) > 20


def test_the_key_is_needed_checked_and_never_shown(encrypted_sample, monkeypatch):
    monkeypatch.delenv("SUPPLYCHAIN_KEY", raising=False)
    monkeypatch.delenv("SUPPLYCHAIN_KEY_FILE", raising=False)
    with pytest.raises(SupplyChainError, match="is encrypted: give its key"):
        sc.connect(encrypted_sample, read_only=True)
    with pytest.raises(SupplyChainError, match="wrong encryption key") as wrong:
        sc.connect(encrypted_sample, read_only=True, encryption_key="not the key")
    assert "not the key" not in str(wrong.value)
    con = sc.connect(encrypted_sample, read_only=True, encryption_key=KEY)
    n = con.execute("SELECT count(*) FROM company").fetchone()[0]
    con.close()
    assert n > 100
    # from the environment, as the CLI and notebooks use it
    monkeypatch.setenv("SUPPLYCHAIN_KEY", KEY)
    con = sc.connect(encrypted_sample, read_only=True)
    assert con.execute("SELECT count(*) FROM company").fetchone()[0] == n
    con.close()


def test_key_files_must_be_private_and_away_from_the_data(tmp_path):
    key = tmp_path / "keys" / "db.key"
    key.parent.mkdir()
    key.write_text(KEY + "\n")
    key.chmod(0o644)
    with pytest.raises(SupplyChainError, match="readable by others"):
        read_key_file(key)
    key.chmod(0o600)
    assert read_key_file(key, database=tmp_path / "data" / "x.duckdb") == KEY
    with pytest.raises(SupplyChainError, match="beside the database"):
        read_key_file(key, database=key.parent / "x.duckdb")


def test_an_unencrypted_database_migrates_with_every_row(plain_sample, tmp_path):
    plain, secrets = plain_sample
    con = sc.connect(plain, read_only=True)
    expected = {
        t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ("company", "supply", "ingest_log", "rejected_row")
    }
    con.close()
    keyfile = tmp_path / "secret" / "db.key"
    keyfile.parent.mkdir()
    keyfile.write_text(KEY)
    keyfile.chmod(0o600)
    out = tmp_path / "data" / "enc.duckdb"
    out.parent.mkdir()
    env = {**os.environ, "SUPPLYCHAIN_KEY_FILE": str(keyfile)}
    env.pop("SUPPLYCHAIN_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "supplychain.cli", "db", "encrypt", str(plain), str(out)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert is_encrypted(out) and _plaintext(out, secrets) == []
    con = sc.connect(out, read_only=True, encryption_key=KEY)
    got = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in expected}
    con.close()
    assert got == expected
    # refusing to overwrite, and a clear message without a key
    env.pop("SUPPLYCHAIN_KEY_FILE")
    proc = subprocess.run(
        [sys.executable, "-m", "supplychain.cli", "db", "encrypt", str(plain), str(tmp_path / "x.duckdb")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1 and re.search("no key", proc.stderr)


_BANNED_MODULES = {"pickle", "cPickle", "joblib", "dill", "cloudpickle", "marshal", "shelve"}


def _unsafe(source: str, where: str = "") -> list[str]:
    """Unsafe deserialisation or evaluation in Python ``source``: imports of pickle-like modules,
    eval/exec, pandas pickles, numpy's allow_pickle, yaml.load without the scenario loader."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        at = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{at} import {a.name}" for a in node.names if a.name.split(".")[0] in _BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _BANNED_MODULES:
            found.append(f"{at} from {node.module}")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("eval", "exec", "read_pickle", "to_pickle"):
                found.append(f"{at} {name}()")
            if name in ("load", "load_all") and isinstance(f, ast.Attribute) and getattr(f.value, "id", "") == "yaml":
                loader = {k.arg: k.value for k in node.keywords}.get("Loader")
                if not (isinstance(loader, ast.Name) and loader.id == "_ScenarioLoader"):
                    found.append(f"{at} yaml.{name} without the safe loader")
            for k in node.keywords:
                if k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and k.value.value is False):
                    found.append(f"{at} allow_pickle")
    return found


def test_nothing_in_the_package_unpickles_or_evaluates_input():
    """No pickle, joblib, marshal or shelve anywhere in the package; no eval or exec; YAML only
    through the alias-free safe loader; no pickle through numpy or pandas (models: skops with an
    allow-list, tests/test_withdrawal_model.py). A static scan of every module's syntax tree."""
    root = Path(sc.__file__).parent
    found = [hit for path in sorted(root.rglob("*.py")) for hit in _unsafe(path.read_text("utf-8"), str(path.relative_to(root)))]
    assert found == []
    # the scan finds each thing it looks for
    probe = "import pickle\nfrom joblib import load\nyaml.load(t)\neval('1')\nnp.load(f, allow_pickle=True)\npd.read_pickle(p)"
    assert len(_unsafe(probe)) == 6
    assert _unsafe("yaml.load(t, Loader=_ScenarioLoader)\nnp.load(f, allow_pickle=False)") == []
