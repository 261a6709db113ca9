import pytest
from django.core.exceptions import ImproperlyConfigured

from yici.common.env import envbool, envint, envstr, secret_key_from_file


def test_envbool_fails_loudly(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        envbool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "on")
    assert envbool("X_FLAG", False) is True
    monkeypatch.delenv("X_FLAG")
    assert envbool("X_FLAG", True) is True


def test_envint_fails_loudly(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured):
        envint("X_NUM", 1)


def test_envstr_reads_secret_files(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("X_KEY_FILE", str(secret))
    assert envstr("X_KEY") == "s3cret"
    monkeypatch.setenv("X_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_KEY_FILE"):
        envstr("X_KEY")


def test_secret_key_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = secret_key_from_file(path)
    assert len(first) > 40 and secret_key_from_file(path) == first
    assert path.stat().st_mode & 0o777 == 0o600


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    env = {
        "PATH": "/usr/bin:/bin", "YICI_VAR_DIR": str(tmp_path), "YICI_PRODUCTION": "1",
        "SECRET_KEY": "x" * 20 + "-production-key-for-the-deploy-check-0123456789",
    }
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "yici"), "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no issues" in proc.stdout
