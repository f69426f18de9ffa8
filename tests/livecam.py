"""A real HTTP MJPEG camera on 127.0.0.1, for tests of live cameras, and the corpus
scene the submersion tests use: UP-Fall A06 Cam1, a person walking into a zone and
standing there (frames before K), and the same camera's empty view (frame EMPTY) — to
the detector, a person who vanished where they stood (see test_absence_corpus.py)."""

from __future__ import annotations

import http.server
import threading
import time

import cv2
import numpy as np
from corpus import require_corpus

CLIP = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
FPS = 18.0
K = 120  # the walker stands around x 341..412, feet at y 412 (well inside the frame)
EMPTY = 36  # the walker is out of Cam1's view here
LENGTH = 300
ZONE = "[[300, 380], [460, 380], [460, 445], [300, 445]]"


def scene_frames() -> list[np.ndarray]:
    """The first LENGTH frames of the clip."""
    cap = cv2.VideoCapture(str(require_corpus(*CLIP)))
    frames = []
    while len(frames) < LENGTH:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    assert len(frames) == LENGTH
    return frames


class LiveCamera:
    """A real HTTP MJPEG camera on 127.0.0.1: each connection is served ``frames`` from
    the first, at ``fps``, then the last one for ever; ``frames`` can be swapped."""

    def __init__(self, frames: list[np.ndarray], fps: float) -> None:
        self.frames = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while True:
                        frames = camera.frames
                        jpeg = frames[min(i, len(frames) - 1)]
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                        self.wfile.write(head.encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                        i += 1
                        time.sleep(1 / fps)
                except OSError:
                    return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def show(self, frames: list[np.ndarray]) -> None:
        self.frames = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
