"""The web demo (`python -m app`), driven over HTTP with gradio_client like a user's browser.

One server for the module, started in a subprocess on a free port with its own TMPDIR; the
last test stops it and checks that it left no file behind.
"""
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app import find_models
from models import load_pretrained
from utils.errors import DelimitError
from utils.inference.delimit import DelimitOptions, delimit_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_SECONDS = 240  # importing gradio and torch on 2 busy cores can be slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_song(path, seconds, rate=48000, channels=2, seed=0):
    """A crudely limited song: decaying tones and noise hits, clipped hard."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    song = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.25):
        decay = np.where(t >= start, np.exp(-(t - start) * rng.uniform(4, 20)), 0.0)
        song += decay * (rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * rng.uniform(60, 800) * t)
                         + 0.3 * rng.standard_normal(len(t)))
    song = np.clip(song * 3, -0.9, 0.9)
    audio = np.stack([song * (1 - 0.1 * c) for c in range(channels)], axis=1)
    sf.write(path, audio.astype(np.float32), rate, subtype="PCM_16")
    return audio


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, process, its TMPDIR); the process is always stopped at the end."""
    work = tmp_path_factory.mktemp("app")
    tmp = work / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env["TMPDIR"] = str(tmp)
    port = free_port()
    log = open(work / "server.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--port", str(port), "--threads", "1",
         "--max_seconds", "5"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"the app exited with {process.returncode}:\n{log.read()}")
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer within {START_SECONDS} s")
            time.sleep(0.5)
        yield url, process, tmp
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.fixture()
def client(server, tmp_path):
    return Client(server[0], verbose=False, download_files=str(tmp_path / "downloads"))


def read(path):
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return audio, rate


def test_delimit_returns_a_wav_like_inference_and_remixes(client, tmp_path, one_thread):
    song = tmp_path / "song.wav"
    make_song(song, 3.0)
    (out, player_in, player_out, mix, plot, summary, gain) = client.predict(
        handle_file(str(song)), api_name="/delimit")
    output, rate = read(out)
    assert rate == 48000 and output.shape == (3 * 48000, 2)  # same length, rate, channels
    assert os.path.basename(out) == "song_delimited.wav"
    assert np.load(gain).shape == (3 * 48000,)
    assert plot.endswith(".png") and os.path.getsize(plot) > 10000
    assert "LUFS" in summary and "-14.0 LUFS" in summary

    # The same code as inference: the same output and the same mixed output.
    model, _ = load_pretrained(os.path.join(REPO, "weight"))
    report = delimit_file(model, str(song), str(tmp_path / "ref.wav"),
                          DelimitOptions(mixed_ratio=0.5, save_sgi_params=True))
    np.testing.assert_allclose(output, read(report.output_path)[0], atol=1e-3)
    np.testing.assert_allclose(np.load(gain), np.load(tmp_path / "ref_sgi.npy"), atol=1e-4)
    np.testing.assert_allclose(read(mix)[0], read(tmp_path / "ref_mixed.wav")[0], atol=1e-3)

    # Players at the same loudness: r = 1 and r = 0 of the mix, re-rendered without audio in.
    matched, _ = read(player_in)
    assert np.abs(matched).max() < 0.9 * np.abs(read(song)[0]).max()  # brought down to -14
    np.testing.assert_array_equal(read(client.predict(1.0, api_name="/remix"))[0], matched)
    np.testing.assert_array_equal(read(client.predict(0.0, api_name="/remix"))[0],
                                  read(player_out)[0])
    np.testing.assert_allclose(read(client.predict(0.5, api_name="/remix"))[0], read(mix)[0],
                               atol=1e-4)


def test_remix_before_any_run_is_an_error(client):
    with pytest.raises(AppError, match="De-limit a song first"):
        client.predict(0.3, api_name="/remix")


def test_bad_files_give_errors_and_the_server_goes_on(client, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a song")
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    no_samples = tmp_path / "no_samples.wav"
    sf.write(no_samples, np.zeros((0, 2), np.float32), 44100)
    surround = tmp_path / "surround.wav"
    sf.write(surround, np.zeros((4410, 3), np.float32), 44100)
    too_long = tmp_path / "too_long.wav"
    sf.write(too_long, np.zeros((6 * 8000, 1), np.float32), 8000)  # --max_seconds 5
    expected = {not_audio: "not a readable audio file", empty: "not a readable audio file",
                no_samples: "no audio samples", surround: "3 channels",
                too_long: "6 s long; this server takes songs of up to 5 s"}
    for path, message in expected.items():
        with pytest.raises(AppError, match=message) as err:
            client.predict(handle_file(str(path)), api_name="/delimit")
        # The user's file name, not the server's temporary path.
        assert path.name in str(err.value) and "delimiter-app" not in str(err.value)

    song = tmp_path / "mono.wav"
    make_song(song, 2.0, rate=22050, channels=1)
    out = client.predict(handle_file(str(song)), ratio=0.0, api_name="/delimit")[0]
    output, rate = read(out)
    assert rate == 22050 and output.shape == (2 * 22050, 1)


def test_stopping_removes_temporary_files(server):
    """Run last: stops the module's server."""
    _, process, tmp = server
    process.terminate()
    assert process.wait(30) == 0
    assert os.listdir(tmp) == []


def test_start_up_errors_are_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "--weight_directory", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path}: no model here (all.json and all.pth)"


def test_model_folders_are_found(tmp_path):
    folders = {"weight": ["all.json", "all.pth"], "weight_reference": ["all.json", "all.pth"],
               "weight_half": ["all.json"], "other": ["all.json", "all.pth"]}
    for name, files in folders.items():
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_text("")
    found = find_models(root=str(tmp_path))
    assert list(found) == ["weight", "weight_reference"]  # the default first
    found = find_models(str(tmp_path / "other"), root=str(tmp_path))
    assert list(found) == ["other", "weight", "weight_reference"]
    assert found["other"] == str(tmp_path / "other")
    with pytest.raises(DelimitError, match="no model here"):
        find_models(str(tmp_path / "weight_half"), root=str(tmp_path))
