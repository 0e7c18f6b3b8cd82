"""The README's way to open the chapters locally works: `.venv/bin/jupyter lab chapters/`.

Starts JupyterLab from the book's environment on a free localhost port, with
the chapters folder as its root, and asks its REST API for the chapter list
and one chapter (the notebook JSON the browser would open), then stops it.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def test_jupyter_lab_serves_the_chapters(tmp_path):
    jupyter = pathlib.Path(sys.executable).with_name("jupyter")
    if not jupyter.exists():
        pytest.fail(f"{jupyter} is missing: JupyterLab is not in the environment (requirements.txt)")
    port, token = _free_port(), "d2lstab-test"
    env = {"JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "HOME": str(tmp_path),
           "PATH": str(jupyter.parent)}
    server = subprocess.Popen(
        [str(jupyter), "lab", "chapters/", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0"]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    out = server.stdout.read().decode(errors="replace") if server.poll() is not None else ""
                    pytest.fail(f"jupyter lab did not start: {out[-2000:]}")
                time.sleep(0.5)
        status, body = _get(f"{base}/lab?token={token}")
        assert status == 200 and b"JupyterLab" in body
        status, body = _get(f"{base}/api/contents?token={token}")
        names = {item["name"] for item in json.loads(body)["content"]}
        chapters = {p.name for p in (ROOT / "chapters").glob("*.ipynb")}
        assert chapters and chapters <= names
        first = sorted(chapters)[0]
        status, body = _get(f"{base}/api/contents/{first}?token={token}&content=1")
        assert json.loads(body)["type"] == "notebook"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
