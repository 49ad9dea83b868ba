"""Starting the server and the gateway as real processes: bad settings, taken ports, the admin token, TLS.

Every failure to start is one line naming what was wrong, exit status 2, and no traceback.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest

from inference_server.server import StartError, _bind
from scripts.local_stack import ROOT, gateway_process, server_process
from tessera.admin_client import AdminClient
from tessera.client import TesseraClient, TesseraError, server_is_serving
from tests.support import TINY_STYLE

SERVER = [sys.executable, "-m", "inference_server"]
GATEWAY = [sys.executable, "-m", "bff"]


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def _one_line_failure(done: subprocess.CompletedProcess, words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and words in errors[0], done.stderr


@pytest.mark.parametrize(("command", "env", "args", "words"), [
    (SERVER, {"TESSERA_PORT": "abc"}, ["--port", "0"], "TESSERA_PORT='abc' is unusable"),
    (SERVER, {"TESSERA_PORT": "abc"}, ["--help"], "TESSERA_PORT='abc' is unusable"),
    (SERVER, {"TESSERA_MAX_STREAMS": "0"}, [], "TESSERA_MAX_STREAMS='0' is unusable: 0 is below the minimum of 1"),
    (SERVER, {"TESSERA_STREAM_IDLE_SECONDS": "soon"}, [], "TESSERA_STREAM_IDLE_SECONDS='soon'"),
    (SERVER, {}, ["--port", "70000"], "argument --port: 70000 is above the maximum of 65535"),
    (SERVER, {}, ["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
    (SERVER, {}, ["--cpu-engine", "gpu"], "'gpu' is not a CPU engine; choose onnxruntime or auto"),
    (SERVER, {"TESSERA_ADMIN_TOKEN": "t"}, ["--admin-token-file", "token.txt"], "give the admin token once"),
    (GATEWAY, {"TESSERA_GATEWAY_PORT": "abc"}, [], "TESSERA_GATEWAY_PORT='abc' is unusable"),
    (GATEWAY, {"TESSERA_GATEWAY_PORT": "abc"}, ["--help"], "TESSERA_GATEWAY_PORT='abc' is unusable"),
    (GATEWAY, {"TESSERA_SERVERS": "nohost"}, [], "TESSERA_SERVERS='nohost' is unusable: 'nohost' is not HOST:PORT"),
    (GATEWAY, {"TESSERA_MAX_UPLOAD_MB": "-3"}, [],
     "TESSERA_MAX_UPLOAD_MB='-3' is unusable: must be more than 0 and at most 1,000,000, got -3"),
], ids=["server-port", "server-port-help", "server-max-streams", "server-idle", "server-port-range", "server-tls-half",
        "server-cpu-engine", "server-two-tokens",
        "gateway-port", "gateway-port-help", "gateway-servers", "gateway-upload"])
def test_a_bad_setting_stops_the_start_with_one_line_naming_it(command, env, args, words):
    _one_line_failure(_run([*command, *args], env), words)


@pytest.mark.parametrize(("command", "prog"), [
    (SERVER, "tessera-server"), (GATEWAY, "tessera-gateway"), ([sys.executable, "-m", "bff.worker"], "tessera-worker"),
    ([sys.executable, "-m", "tessera.cli", "stylize", "a.jpg", "-o", "b.png"], "tessera stylize"),
    ([sys.executable, "-m", "tessera.cli", "admin", "pin", "x", "1"], "tessera admin pin"),
], ids=["server", "gateway", "worker", "cli", "cli-subcommand"])
def test_a_mistyped_flag_gets_its_error_and_a_pointer_to_help_not_the_usage_block(command, prog):
    """The pointer names the (sub)command the flag was given to: its --help lists that command's flags."""
    done = _run([*command, "--prot", "1"])
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{prog}: error: unrecognized arguments: --prot 1",
                                        f"(`{prog} --help` lists the flags)"]


def test_help_derives_defaults_and_variables_and_calls_nothing_required():
    out = " ".join(_run([*SERVER, "--help"]).stdout.split())
    assert "model registry directory [env TESSERA_REGISTRY; default model_registry]" in out
    assert "(required)" not in out
    assert "visible to every user of the machine (ps)" in out


@pytest.mark.serial  # serial pass of `make test`: fails within 30 s
def test_a_second_server_on_a_taken_port_fails_at_once_and_the_first_keeps_serving(tiny_registry):
    with server_process(tiny_registry) as (_, address, _):
        port = address.rpartition(":")[2]
        started = time.monotonic()
        done = _run([*SERVER, "--registry", str(tiny_registry), "--port", port, "--threads", "1"])
        _one_line_failure(done, f"cannot listen on 127.0.0.1:{port}: the port is in use")
        assert _beside_the_log(done.stderr) == [f"tessera-server: error: cannot listen on 127.0.0.1:{port}: the port "
                                                "is in use"]  # gRPC's own "E1204 ... add_port.cc:83]" line neither
        assert "loaded" not in done.stderr  # it fails before loading any model
        assert time.monotonic() - started < 30
        assert server_is_serving(address)
        with TesseraClient(address, timeout=10) as client:
            assert [s.id for s in client.list_styles()] == [TINY_STYLE]


def _beside_the_log(stderr: str) -> list[str]:
    """The lines of stderr that are not the server's own log lines."""
    return [line for line in stderr.splitlines() if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", line)]


def test_an_address_not_of_this_machine_is_one_clear_line(tiny_registry):
    done = _run([*SERVER, "--registry", str(tiny_registry), "--host", "192.0.2.1", "--port", "0"])  # TEST-NET-1
    _one_line_failure(done, "cannot listen on 192.0.2.1:0: the address is not this machine's")
    assert _beside_the_log(done.stderr) == ["tessera-server: error: cannot listen on 192.0.2.1:0: the address is not "
                                            "this machine's"]


def test_a_taken_metrics_port_is_one_clear_line(tiny_registry):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = _run([*SERVER, "--registry", str(tiny_registry), "--port", "0", "--metrics-port", str(port)])
    _one_line_failure(done, f"cannot serve metrics on 127.0.0.1:{port}")


@pytest.fixture
def token_file(tmp_path) -> Path:
    path = tmp_path / "admin-token"
    path.write_text("t0ken-from-file\n")
    return path


@pytest.mark.parametrize("how", ["file", "environment"])
def test_the_admin_token_comes_from_a_file_or_the_environment_and_needs_the_bearer_scheme(tiny_registry, token_file,
                                                                                           how):
    flags = {"admin_token_file": token_file} if how == "file" else {}
    env = {"TESSERA_ADMIN_TOKEN": "t0ken-from-file"} if how == "environment" else {}
    with server_process(tiny_registry, env=env, **flags) as (_, address, log):
        with AdminClient(address, "t0ken-from-file", timeout=10) as admin:
            styles, _ = admin.status()
            assert [s.id for s in styles] == [TINY_STYLE]
        assert "t0ken-from-file" not in log.read_text()  # the start-up log hides it
        with grpc.insecure_channel(address) as channel:
            status = channel.unary_unary("/tessera.v1.Admin/Status")
            for bad, words in (("t0ken-from-file", "need the metadata"), ("Basic t0ken-from-file", "need the metadata"),
                               ("Bearer wrong", "does not match"), ("Bearer", "need the metadata")):
                with pytest.raises(grpc.RpcError) as caught:
                    status(b"", metadata=[("authorization", bad)], timeout=10)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, bad
                assert words in caught.value.details(), bad  # a wrong token and none were told alike
            with pytest.raises(grpc.RpcError) as caught:
                status(b"", timeout=10)
            assert "TESSERA_ADMIN_TOKEN" in caught.value.details()
        with AdminClient(address, "t0ken-from-file \n", timeout=10) as admin:  # trimmed, as the server's file
            assert [s.id for s in admin.status()[0]] == [TINY_STYLE]


def test_the_start_up_line_names_the_admin_token_file_and_hides_the_token(tiny_registry, token_file):
    """It said `admin_token_file=None` for a token read from --admin-token-file."""
    with server_process(tiny_registry, admin_token_file=token_file) as (_, _, log):
        said = log.read_text()
    assert f"admin_token=***, admin_token_file={token_file}," in said
    assert "t0ken-from-file" not in said


@pytest.mark.parametrize(("content", "words"), [("", "is empty"), (None, "cannot read the admin token file")])
def test_an_unusable_admin_token_file_stops_the_start(tiny_registry, tmp_path, content, words):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    _one_line_failure(_run([*SERVER, "--registry", str(tiny_registry), "--admin-token-file", str(path)]), words)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_a_tls_server_serves_clients_that_trust_its_certificate_and_no_plaintext(tiny_registry, certificate):
    cert, key = certificate
    ca = cert.read_bytes()
    with server_process(tiny_registry, tls_cert=cert, tls_key=key) as (_, address, log):
        assert "(TLS)" in log.read_text()
        assert server_is_serving(address, tls_ca=ca)
        with TesseraClient(address, timeout=20, tls_ca=ca) as client:
            image = np.full((40, 30, 3), 120, dtype=np.uint8)
            assert client.stylize(image, TINY_STYLE).image.shape == image.shape
        assert not server_is_serving(address)  # plaintext gets no answer
        with TesseraClient(address, timeout=5) as plain, pytest.raises(TesseraError) as caught:
            plain.list_styles()
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_the_cli_and_the_gateway_reach_a_tls_server_with_the_ca_option(tiny_registry, certificate, tmp_path):
    cert, key = certificate
    with server_process(tiny_registry, tls_cert=cert, tls_key=key) as (_, address, _):
        listed = _run([sys.executable, "-m", "tessera.cli", "styles", "--server", address, "--tls-ca", str(cert)])
        assert listed.returncode == 0 and TINY_STYLE in listed.stdout, listed.stderr
        from_env = _run([sys.executable, "-m", "tessera.cli", "styles", "--server", address],
                        env={"TESSERA_TLS_CA": str(cert)})
        assert from_env.returncode == 0 and TINY_STYLE in from_env.stdout, from_env.stderr
        plain = _run([sys.executable, "-m", "tessera.cli", "styles", "--server", address, "--timeout", "3"])
        assert plain.returncode == 1 and "unavailable" in plain.stderr
        with gateway_process([address], server_ca=cert) as (_, url):
            health = json.load(urllib.request.urlopen(url + "healthz", timeout=10))
            styles = json.load(urllib.request.urlopen(url + "api/styles", timeout=10))
        assert health["status"] == "ok"
        assert TINY_STYLE in json.dumps(styles)


def _config(tls_cert: Path | None = None, tls_key: Path | None = None, port: int = 0) -> SimpleNamespace:
    """What _bind reads of a ServerConfig."""
    return SimpleNamespace(host="127.0.0.1", port=port, tls_cert=tls_cert, tls_key=tls_key)


def test_binds_in_several_threads_of_one_process_leave_stderr_where_it_was(capfd):
    """scripts.local_stack.local_server starts servers in-process; before, two binds at once could
    interleave their dup2s and leave fd 2 on a closed temporary file: every later error line lost."""
    original = os.dup(2)
    before = os.fstat(2)
    threads, rounds = 8, 6
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def bind_some() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(rounds):
                server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
                assert _bind(server, _config()) > 0
                server.stop(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    try:
        workers = [threading.Thread(target=bind_some) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        after = os.fstat(2)
        os.write(2, b"fd 2 still reaches stderr\n")
        print("so does sys.stderr", file=sys.stderr, flush=True)
        err = capfd.readouterr().err
    finally:
        os.dup2(original, 2)  # repaired for the tests after this one, should it have moved
        os.close(original)
    assert not failures, failures
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    assert "fd 2 still reaches stderr" in err and "so does sys.stderr" in err


class _FailingServer:
    """A server whose bind writes to fd 2 (as gRPC's C core does) and then fails other than with RuntimeError."""

    def add_insecure_port(self, address: str) -> int:
        os.write(2, b"E0000 something gRPC said before failing\n")
        raise ValueError("not a RuntimeError")


def test_what_was_said_during_a_bind_that_raises_otherwise_still_reaches_stderr(capfd):
    """Before, anything but RuntimeError left the block with the held text dropped."""
    with pytest.raises(ValueError, match="not a RuntimeError"):
        _bind(_FailingServer(), _config())
    assert "E0000 something gRPC said before failing" in capfd.readouterr().err


@pytest.mark.parametrize(("files", "words"), [
    ("not pem", "the TLS certificate or key is not valid (Invalid cert chain file)"),
    ("cert as key", "the TLS certificate or key is not valid (Invalid private key)"),
])
def test_a_tls_certificate_or_key_gRPC_cannot_use_is_named_not_a_taken_port(certificate, tmp_path, capfd, files,
                                                                            words):
    """Before: 'cannot listen on ...: the port is in use (or the address is not this machine's)', with
    gRPC's explaining line filtered out."""
    cert, _ = certificate
    if files == "not pem":
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        cert.write_text("not a certificate\n")
        key.write_text("not a key\n")
    else:
        key = cert
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    with pytest.raises(StartError) as caught:
        _bind(server, _config(cert, key))
    assert str(caught.value) == f"cannot listen on 127.0.0.1:0: {words}"
    err = capfd.readouterr().err
    assert "add_port" not in err and "ssl_transport_security" not in err and "TSI_" not in err, err


class _BindBesideOthers:
    """A real gRPC server whose bind first waits for another thread to write to fd 2, as another
    in-process server's gRPC core or a warning may while the bind holds it."""

    LINES = ("I1205 02:36:20.359244 {thread:>7} ssl_transport_security.cc:2563] Handshake failed with error "
             "SSL_ERROR_SSL: error:10000096:SSL routines:OPENSSL_internal:EXCESSIVE_MESSAGE_SIZE\n",
             "E1205 02:36:20.867400 {thread:>7} ssl_transport_security.cc:1517] Could not load any root certificate.\n",
             "/srv/other.py:3: UserWarning: something unrelated\n")

    def __init__(self) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
        self.written = ""  # what the other thread wrote

    def add_insecure_port(self, address: str) -> int:
        self._others_write()
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, credentials) -> int:
        self._others_write()
        return self._server.add_secure_port(address, credentials)

    def _others_write(self) -> None:
        def write() -> None:
            self.written = "".join(line.format(thread=threading.get_native_id()) for line in self.LINES)
            os.write(2, self.written.encode())

        other = threading.Thread(target=write)
        other.start()
        other.join()


@pytest.mark.parametrize("failure", ["taken port", "invalid certificate"])
def test_a_failed_bind_drops_only_grpcs_lines_about_it_from_stderr(tmp_path, capfd, failure):
    """Before, every line naming gRPC's TLS files was dropped, another server's among them, and a TLS
    bind's reason was read from the first such line, whoever wrote it ("Could not load any root
    certificate"). Now only the binding thread's own lines give way to the one line."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        if failure == "taken port":
            config, words = _config(port=taken.getsockname()[1]), "the port is in use"
        else:
            bad = tmp_path / "bad.pem"
            bad.write_text("not a certificate\n")
            config, words = _config(bad, bad), "the TLS certificate or key is not valid (Invalid cert chain file)"
        server = _BindBesideOthers()
        with pytest.raises(StartError) as caught:
            _bind(server, config)
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{config.port}: {words}"
    assert capfd.readouterr().err == server.written  # and none of gRPC's lines about the bind


def test_a_server_given_an_invalid_certificate_says_so_in_one_line(tiny_registry, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    done = _run([*SERVER, "--registry", str(tiny_registry), "--port", "0", "--tls-cert", str(bad), "--tls-key",
                 str(bad)])
    words = "cannot listen on 127.0.0.1:0: the TLS certificate or key is not valid (Invalid cert chain file)"
    _one_line_failure(done, words)
    assert _beside_the_log(done.stderr) == [f"tessera-server: error: {words}"]
