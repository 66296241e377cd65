"""Real ``hsctl serve`` processes: readiness, SIGTERM flushing the log, workers, no torch, a browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, model: Path, artifacts: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "hsctl", "serve", "--model", str(model), "--port", str(self.port), *args]
        env = {**os.environ, "HSCTL_PATHS__ARTIFACTS": str(artifacts), **(env or {})}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.ready_after = self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.communicate()[1]}")
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return time.monotonic() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("server never became ready")

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, err


@pytest.fixture
def onnx_server(quantized_model: Path, tmp_path: Path) -> Iterator[Server]:
    server = Server(quantized_model, tmp_path / "artifacts", "--onnx")
    yield server
    if server.proc.poll() is None:
        server.stop()


POISON = ["\\ud800", "a lone \\udfff in the middle", "see https://example.org/\\ud83d now"]  # JSON escapes


def test_sigterm_flushes_every_answered_request_and_poison_fails_alone(onnx_server: Server, tmp_path: Path):
    texts = [f"unique text {i}" for i in range(200)]
    bodies = [json.dumps({"text": t}) for t in texts] + ['{"text": "' + p + '"}' for p in POISON * 5]

    def send(body: str) -> tuple[str, int, str]:
        response = httpx.post(onnx_server.url + "/predict", content=body, timeout=30)
        return body, response.status_code, response.text

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, bodies))
    answered = {json.loads(body)["text"] for body, status, _ in results if status == 200}
    others = [(body, status, text) for body, status, text in results if status != 200 and "\\u" not in body]
    assert answered == set(texts), others  # every good request, whatever was sent beside it
    poisoned = [(status, text) for body, status, text in results if "\\u" in body]
    assert len(poisoned) == 15 and all(status == 422 and '"invalid_text"' in text for status, text in poisoned)
    assert httpx.get(onnx_server.url + "/v2/health/ready").status_code == 200
    metrics = httpx.get(onnx_server.url + "/metrics").text
    assert 'hsctl_prediction_log_dropped_total{reason="encode"} 0.0' in metrics
    code, err = onnx_server.stop()
    assert code == 0, err
    assert "Traceback" not in err
    logged = [
        json.loads(line)["text"]
        for f in (tmp_path / "artifacts" / "predictions").glob("*.jsonl")
        for line in f.read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(logged) == sorted(answered)  # every answered text once, no poisoned one


def test_onnx_server_has_no_torch_and_starts_fast(onnx_server: Server):
    maps = Path(f"/proc/{onnx_server.proc.pid}/maps")
    if maps.exists():
        assert "libtorch" not in maps.read_text()
    assert onnx_server.ready_after < 30  # the 3 s target is measured by benchmarks/serve.py, not asserted here
    metrics = httpx.get(onnx_server.url + "/metrics").text
    assert 'backend="onnx-int8"' in metrics


def test_two_workers(quantized_model: Path, tmp_path: Path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = Server(quantized_model, tmp_path / "artifacts", "--onnx", "--workers", "2", "--no-log", env=tmp_env(temp))
    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(
                pool.map(lambda i: httpx.post(server.url + "/predict", json={"text": f"t{i}"}).status_code, range(40))
            )
        assert codes == [200] * 40
        metrics = httpx.get(server.url + "/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith('hsctl_requests_total{endpoint="/predict",status="200"}')
        )
        assert total == 40  # aggregated over both workers
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert left_in(temp) == []  # the metrics folder is removed on a clean stop


def tmp_env(temp: Path) -> dict[str, str]:
    return {"TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}


def left_in(temp: Path) -> list[Path]:
    return sorted(temp.iterdir())  # workers' temp files too (onnxruntime writes a ".ses" file on import)


def poll(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def files_holding(root: Path, secret: bytes) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and secret in f.read_bytes()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree through /proc (psutil)")
def test_sigkilled_multi_worker_parent_takes_its_workers_and_leaves_nothing_on_disk(
    quantized_model: Path, tmp_path: Path
):
    import psutil

    temp = tmp_path / "tmp"
    temp.mkdir()
    secret = "s3cret-key-that-must-not-reach-disk"
    env = {**tmp_env(temp), "HSCTL_SERVE__API_KEY": secret}
    server = Server(quantized_model, tmp_path / "artifacts", "--onnx", "--workers", "2", "--no-log", env=env)
    workers: list[int] = []
    try:

        def serving_children() -> list[psutil.Process]:  # multiprocessing's resource tracker is a child too
            children = psutil.Process(server.proc.pid).children()
            return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]

        assert poll(lambda: len(serving_children()) == 2)
        workers += [child.pid for child in psutil.Process(server.proc.pid).children()]  # the tracker too
        headers = {"X-API-Key": secret}
        assert httpx.post(server.url + "/predict", json={"text": "hi"}, headers=headers).status_code == 200
        assert httpx.post(server.url + "/predict", json={"text": "hi"}).status_code == 401
        assert files_holding(temp, secret.encode()) == [] and files_holding(tmp_path, secret.encode()) == []
        assert [p.name.startswith("hsctl-serve-") for p in left_in(temp)] == [True]  # the workers' folder only
        server.proc.kill()  # SIGKILL: the parent cannot clean up anything
        server.proc.wait(timeout=30)
        assert poll(lambda: not any(running(pid) for pid in workers)), "workers outlived their parent"
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/v2/health/live", timeout=2)
        assert poll(lambda: left_in(temp) == []), list(temp.rglob("*"))
    finally:
        for pid in workers:  # never leave a stray server behind, whatever failed
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if server.proc.poll() is None:
            server.proc.kill()
        server.proc.communicate(timeout=30)


def test_bad_model_and_busy_port_fail_cleanly(quantized_model: Path, tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-m", "hsctl", "serve", "--model", str(tmp_path / "nope")], capture_output=True, text=True
    )
    assert out.returncode == 4 and out.stderr.startswith("error: model folder not found")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "hsctl", "serve", "--model", str(quantized_model), "--port", str(port)],
            capture_output=True,
            text=True,
        )
    assert out.returncode == 1 and "cannot listen" in out.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def chromium(tmp_path: Path, *extra: str):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chrome'}",
        *extra,
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_page_in_headless_chromium(onnx_server: Server, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium(tmp_path)
    try:
        driver.get(onnx_server.url + "/")
        driver.find_element(By.ID, "text").send_keys("all glorbians are worthless")
        driver.find_element(By.ID, "classify").click()
        label = WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "label")))
        assert label.text in {"hate", "non-hate"}
        probability = float(driver.find_element(By.ID, "prob").text)
        assert 0 <= probability <= 1
        driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        driver.quit()


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Debian's chromium and chromium-driver are not installed")
def test_docs_pages_render_with_no_network_but_the_server(onnx_server: Server, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # Every host name but the server's address fails to resolve: a CDN or font host would stay blank.
    driver = chromium(tmp_path, "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    try:
        driver.get(onnx_server.url + "/docs")
        title = WebDriverWait(driver, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title"))
        )
        assert "hsctl prediction server" in title.text
        WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
        paths = {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/predict", "/v2/models/{model_name}/infer"} <= {p.replace("\u200b", "") for p in paths}
        driver.save_screenshot(str(tmp_path / "docs.png"))
        driver.get(onnx_server.url + "/redoc")
        heading = WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".api-info h1")))
        assert "hsctl prediction server" in heading.text
        driver.save_screenshot(str(tmp_path / "redoc.png"))
    finally:
        driver.quit()


def test_unwritable_log_destination_is_one_line(quantized_model: Path, tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    out = subprocess.run(
        [sys.executable, "-m", "hsctl", "serve", "--model", str(quantized_model), "--port", str(free_port()),
         "--log-url", str(blocker / "logs")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip().startswith("error: cannot write the prediction log") and "--no-log" in out.stderr
