"""Screenshot of the web demo after a run, with headless Chromium (Debian's `chromium`).

    python -m app --port 7860 &
    python docs/make_app_screenshot.py --url http://127.0.0.1:7860/ \
        --song input_data/example_song.wav --output docs/app_screenshot.png

Drives the page as a user would (uploads the song, presses De-limit, waits for the
summary) through the DevTools protocol over --remote-debugging-pipe, so it needs no
package beyond the standard library.
"""
import argparse
import base64
import fcntl
import json
import os
import subprocess
import tempfile
import time


def _as_fds_3_and_4(read_fd, write_fd):
    """In the child: the browser reads commands on fd 3 and writes replies on fd 4."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (read_fd, write_fd)]
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)


class Chromium:
    """Headless Chromium and one page, commanded over the DevTools pipe (fds 3 and 4)."""

    def __init__(self, width, height):
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-")
        to_browser, self.write_end = os.pipe()
        self.read_end, from_browser = os.pipe()
        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile.name}"],
            pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _as_fds_3_and_4(to_browser, from_browser))
        os.close(to_browser)
        os.close(from_browser)
        self.buffer = b""
        self.next_id = 0
        self.session = None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def send(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.write_end, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                self.buffer += os.read(self.read_end, 1 << 20)
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression):
        return self.send("Runtime.evaluate", expression=expression,
                         returnByValue=True)["result"].get("value")

    def wait_for(self, expression, timeout=300):
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.5)

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self.write_end)
        os.close(self.read_end)
        self.profile.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:7860/")
    p.add_argument("--song", default="input_data/example_song.wav")
    p.add_argument("--output", default="docs/app_screenshot.png")
    p.add_argument("--width", type=int, default=1280)
    args = p.parse_args()
    browser = Chromium(args.width, 900)
    try:
        browser.send("Page.enable")
        browser.send("Page.navigate", url=args.url)
        browser.wait_for("document.querySelector('input[type=file]') !== null")
        document = browser.send("DOM.getDocument")["root"]["nodeId"]
        node = browser.send("DOM.querySelector", nodeId=document,
                            selector="input[type=file]")["nodeId"]
        browser.send("DOM.setFileInputFiles", nodeId=node, files=[os.path.abspath(args.song)])
        time.sleep(3)  # the upload
        browser.evaluate("[...document.querySelectorAll('button')]"
                         ".find(b => b.innerText.trim() === 'De-limit').click()")
        browser.wait_for("document.body.innerText.includes('restored gain, mean')")
        time.sleep(5)  # players draw their waveforms, the plot loads
        height = browser.evaluate("document.documentElement.scrollHeight")
        browser.send("Emulation.setDeviceMetricsOverride", width=args.width, height=height,
                     deviceScaleFactor=1, mobile=False)
        time.sleep(2)
        shot = browser.send("Page.captureScreenshot", format="png")["data"]
        with open(args.output, "wb") as f:
            f.write(base64.b64decode(shot))
    finally:
        browser.close()
    print(f"{args.output}: {args.width} x {height}")


if __name__ == "__main__":
    main()
