"""Miniature datasets in each dataset's real layout and file formats, their archives, and a
local HTTP server to download them from (offline tests of the download code).

Each ``write_*`` function writes a few 16x16 images and returns the expected image counts as
``{(split, label): n}``. :func:`build_archive` packs one as the real archive (format and
top-level folder as published). :class:`ArchiveServer` serves a folder on 127.0.0.1, can cut
a response half-way and can refuse HEAD requests.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import tarfile
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16
_rng = np.random.default_rng(0)


def _height_width(size: int | tuple[int, int]) -> tuple[int, int]:
    """``size`` (a side, or (width, height)) as (height, width)."""
    return (size, size) if isinstance(size, int) else (size[1], size[0])


def write_image(path: Path, mode: str = "RGB", size: int | tuple[int, int] = SIZE) -> Path:
    """A random ``mode`` image (format from the suffix: .png, .bmp, .JPG, .tiff); ``size`` is
    a side or (width, height)."""
    channels = {"RGB": (3,), "L": ()}[mode]
    pixels = _rng.integers(0, 256, (*_height_width(size), *channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path)
    return path


def write_mask(path: Path, value: int = 255, size: int | tuple[int, int] = SIZE) -> Path:
    """A greyscale mask: 0 outside a rectangular defect of ``value`` (1/128/255: not always
    binary); ``size`` as :func:`write_image`'s."""
    height, width = _height_width(size)
    pixels = np.zeros((height, width), dtype=np.uint8)
    pixels[height // 4:height // 2, width // 4:width // 2] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "L").save(path)
    return path


def write_pointcloud(path: Path, size: int = SIZE) -> Path:
    """A dummy float32 .tiff standing in for an MVTec 3D-AD xyz point cloud."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size, size), dtype=np.float32), "F").save(path)
    return path


def _readme(root: Path) -> None:
    """The licence and readme files MVTec archives carry beside the categories."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "license.txt").write_text("CC BY-NC-SA 4.0\n")
    (root / "readme.txt").write_text("miniature test data\n")


MVTEC_CATEGORIES = {"bottle": ("RGB", "broken_large"), "grid": ("L", "bent")}


def write_mvtec(root: Path, categories: dict[str, tuple[str, str]] | None = None) -> Counter:
    """MVTec AD: ``<cat>/train/good``, ``<cat>/test/{good,<defect>}``, ``ground_truth/<defect>``.

    ``categories`` maps names to (image mode, defect name); "grid" is greyscale as in the real
    dataset. Per category: 3 train, 2 good and 2 defective test images.
    """
    counts = Counter()
    _readme(root)
    for category, (mode, defect) in (categories or MVTEC_CATEGORIES).items():
        base = root / category
        for i in range(3):
            write_image(base / "train" / "good" / f"{i:03d}.png", mode)
        for i in range(2):
            write_image(base / "test" / "good" / f"{i:03d}.png", mode)
            write_image(base / "test" / defect / f"{i:03d}.png", mode)
            write_mask(base / "ground_truth" / defect / f"{i:03d}_mask.png")
        counts.update({("train", 0): 3, ("test", 0): 2, ("test", 1): 2})
    return counts


# category: (image suffix, mask suffix, mask value); masks of 03 are .bmp as in the real BTAD.
BTAD_CATEGORIES = {
    "01": (".bmp", ".png", 255),
    "02": (".png", ".png", 1),
    "03": (".bmp", ".bmp", 255),
}


def write_btad(root: Path) -> Counter:
    """BTAD: ``BTech_Dataset_transformed/<cat>/{train/ok,test/ok,test/ko,ground_truth/ko}``.

    Per category: 2 train, 1 good and 2 defective test images; masks share the image's stem.
    """
    counts = Counter()
    for category, (suffix, mask_suffix, value) in BTAD_CATEGORIES.items():
        base = root / "BTech_Dataset_transformed" / category
        for i in range(2):
            write_image(base / "train" / "ok" / f"{i:04d}{suffix}")
            write_image(base / "test" / "ko" / f"{i:04d}{suffix}")
            write_mask(base / "ground_truth" / "ko" / f"{i:04d}{mask_suffix}", value=value)
        write_image(base / "test" / "ok" / f"{0:04d}{suffix}")
        counts.update({("train", 0): 2, ("test", 0): 1, ("test", 1): 2})
    return counts


MVTEC3D_CATEGORIES = {"bagel": "crack", "foam": "color"}


def _mvtec3d_sample(folder: Path, stem: str, with_gt: bool) -> None:
    """One MVTec 3D-AD sample: ``rgb/<stem>.png``, ``xyz/<stem>.tiff`` and maybe ``gt/``."""
    write_image(folder / "rgb" / f"{stem}.png")
    write_pointcloud(folder / "xyz" / f"{stem}.tiff")
    if with_gt:
        write_mask(folder / "gt" / f"{stem}.png")


def write_mvtec3d(root: Path, top: str | None = None) -> Counter:
    """MVTec 3D-AD: ``<cat>/{train,validation,test}/<label>/{rgb,xyz,gt}``.

    Per category: 2 train, 1 validation (not indexed), 1 good and 2 defective test images; test
    images of every label have a ``gt`` mask. ``top`` puts everything under that folder.
    """
    counts = Counter()
    root = root / top if top else root
    _readme(root)
    for category, defect in MVTEC3D_CATEGORIES.items():
        base = root / category
        (base / "calibration").mkdir(parents=True)
        (base / "calibration" / "camera_parameters.json").write_text("{}\n")
        for i in range(2):
            _mvtec3d_sample(base / "train" / "good", f"{i:03d}", with_gt=False)
            _mvtec3d_sample(base / "test" / defect, f"{i:03d}", with_gt=True)
        _mvtec3d_sample(base / "validation" / "good", "000", with_gt=False)
        _mvtec3d_sample(base / "test" / "good", "000", with_gt=True)
        counts.update({("train", 0): 2, ("test", 0): 1, ("test", 1): 2})
    return counts


VISA_CATEGORIES = {"candle": 1, "pcb1": 128}  # category: mask value (VisA masks are not 0/255)


def write_visa(root: Path) -> Counter:
    """VisA: ``<cat>/Data/{Images/{Normal,Anomaly}/*.JPG,Masks/Anomaly/*.png}`` and the split.

    Per category: 4 normal images (3 train, 1 test) and 2 anomalous test images, listed in
    ``split_csv/1cls.csv`` (``object,split,label,image,mask``, paths relative to ``root``).
    """
    counts = Counter()
    split = ["object,split,label,image,mask"]
    for category, value in VISA_CATEGORIES.items():
        anno = ["image,label,mask"]
        for i in range(4):
            image = f"{category}/Data/Images/Normal/{i:04d}.JPG"
            write_image(root / image)
            split.append(f"{category},{'train' if i < 3 else 'test'},normal,{image},")
            anno.append(f"{image},normal,")
        for i in range(2):
            image = f"{category}/Data/Images/Anomaly/{i:03d}.JPG"
            mask = f"{category}/Data/Masks/Anomaly/{i:03d}.png"
            write_image(root / image)
            write_mask(root / mask, value=value)
            split.append(f"{category},test,anomaly,{image},{mask}")
            anno.append(f"{image},scratch,{mask}")
        (root / category / "image_anno.csv").write_text("\n".join(anno) + "\n")
        counts.update({("train", 0): 3, ("test", 0): 1, ("test", 1): 2})
    (root / "split_csv").mkdir()
    (root / "split_csv" / "1cls.csv").write_text("\n".join(split) + "\n")
    return counts


# category: (width, height): not square, and different per category, as in the real dataset
MVTEC_AD2_CATEGORIES = {"can": (24, 16), "rice": (16, 20)}


def write_mvtec_ad2(root: Path) -> Counter:
    """MVTec AD 2: ``<cat>/{train/good,validation/good,test_public/{good,bad}}``, masks in
    ``test_public/ground_truth/bad/<stem>_mask.png``, unlabelled ``test_private`` and
    ``test_private_mixed``. Per category: 3 train, 2 validation, 2 good and 2 bad public test
    images, 2 + 1 private ones (not indexed)."""
    counts = Counter()
    _readme(root)
    for category, size in MVTEC_AD2_CATEGORIES.items():
        base = root / category
        for i in range(3):
            write_image(base / "train" / "good" / f"{i:03d}_regular.png", size=size)
        for i in range(2):
            write_image(base / "validation" / "good" / f"{i:03d}_regular.png", size=size)
            write_image(base / "test_public" / "good" / f"{i:03d}_regular.png", size=size)
            write_image(base / "test_public" / "bad" / f"{i:03d}_regular.png", size=size)
            write_mask(base / "test_public" / "ground_truth" / "bad" / f"{i:03d}_regular_mask.png",
                       size=size)
            write_image(base / "test_private" / f"{i:03d}_regular.png", size=size)
        write_image(base / "test_private_mixed" / "000_mixed.png", size=size)
        counts.update({("train", 0): 3, ("validation", 0): 2, ("test", 0): 2, ("test", 1): 2})
    return counts


# category: (width, height) of its images (Real-IAD's differ per category and are not square)
REALIAD_CATEGORIES = {"audiojack": (20, 16), "pcb": (16, 24)}
REALIAD_VIEWS = ("C1", "C2")


def _realiad_entry(root: Path, category: str, sample: int, defect: str, view: str,
                   size: tuple[int, int]) -> dict:
    """One image of one view (and its mask when anomalous) and its JSON entry."""
    kind = "OK" if defect == "OK" else f"NG/{defect}"
    stem = f"{category}_{sample:04d}_{'OK' if defect == 'OK' else 'NG_' + defect}_{view}"
    image = f"{kind}/S{sample:04d}/{stem}.jpg"
    write_image(root / "realiad_1024" / category / image, size=size)
    mask = None
    if defect != "OK":
        mask = f"{kind}/S{sample:04d}/{stem}.png"
        write_mask(root / "realiad_1024" / category / mask, size=size)
    return {"category": category, "anomaly_class": defect, "image_path": image,
            "mask_path": mask}


def write_realiad(root: Path) -> Counter:
    """Real-IAD: ``realiad_1024/<cat>/{OK,NG/<defect>}/S<sample>/<cat>_..._<view>.jpg`` (masks
    .png beside anomalous images) and the splits ``realiad_jsons/realiad_jsons/<cat>.json``
    (both views) and ``realiad_jsons/realiad_jsons_sv/<cat>.json`` (view C1 only). Per category
    and view: 2 training samples, 1 normal and 1 anomalous (defect AK) test sample."""
    counts = Counter()
    for category, size in REALIAD_CATEGORIES.items():
        entries = {split: [_realiad_entry(root, category, sample, defect, view, size)
                           for sample, defect in samples for view in REALIAD_VIEWS]
                   for split, samples in (("train", [(1, "OK"), (2, "OK")]),
                                          ("test", [(3, "OK"), (4, "AK")]))}
        meta = {"prefix": category, "normal_class": "OK"}
        for folder, views in (("realiad_jsons", REALIAD_VIEWS), ("realiad_jsons_sv", ("C1",))):
            content = {"meta": meta, **{split: [e for e in items if e["image_path"][-6:-4]
                                                in views] for split, items in entries.items()}}
            path = root / "realiad_jsons" / folder / f"{category}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content))
        counts.update({("train", 0): 4, ("test", 0): 2, ("test", 1): 2})
    return counts


def pack(staging: Path, archive: Path) -> Path:
    """Pack the contents of ``staging`` (its children at the top) as .zip, .tar, .tar.gz or
    .tar.xz."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(staging.rglob("*")):
                zf.write(path, path.relative_to(staging).as_posix())
        return archive
    options = ({"mode": "w:xz", "preset": 1} if archive.name.endswith(".xz") else
               {"mode": "w:gz"} if archive.name.endswith(".gz") else {"mode": "w"})
    with tarfile.open(archive, **options) as tar:
        for child in sorted(staging.iterdir()):
            tar.add(child, arcname=child.name)
    return archive


@dataclass
class Miniature:
    """A miniature archive, its layout and the image counts expected after indexing."""

    archive: Path
    layout: str
    counts: Counter

    def digest(self, algorithm: str) -> str:
        """The archive's hex digest (``sha256`` or ``md5``)."""
        return hashlib.new(algorithm, self.archive.read_bytes()).hexdigest()


# dataset: (writer, real archive name); BTAD's zip has BTech_Dataset_transformed/ at the top, the
# others have the categories at the top.
ARCHIVES = {
    "mvtec": (write_mvtec, "mvtec_anomaly_detection.tar.xz"),
    "btad": (write_btad, "btad.zip"),
    "mvtec3d": (write_mvtec3d, "mvtec_3d_anomaly_detection.tar.xz"),
    "visa": (write_visa, "VisA_20220922.tar"),
    "mvtec_ad2": (write_mvtec_ad2, "mvtec_ad_2.tar.gz"),
}


def build_archive(dataset: str, folder: Path) -> Miniature:
    """Write the miniature ``dataset`` and pack it into ``folder`` under its real archive name."""
    writer, name = ARCHIVES[dataset]
    staging = folder / f"{dataset}-staging"
    counts = writer(staging)
    archive = pack(staging, folder / name)
    shutil.rmtree(staging)
    return Miniature(archive, dataset, counts)


class _Handler(SimpleHTTPRequestHandler):
    """Serves files; sends only the first bytes of a response when the server says so; answers
    a ranged GET with 206 (unless the server ignores ranges) and, on a server that refuses HEAD,
    HEAD with 403 (as S3 does)."""

    def log_message(self, format, *args):
        """Silence the per-request log."""

    def do_HEAD(self):
        if self.server.refuse_head:
            self.send_error(403, "HEAD refused")
        else:
            super().do_HEAD()

    def do_GET(self):
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not (ranged and path.is_file()) or self.server.ignore_ranges:
            super().do_GET()
            return
        data = path.read_bytes()
        start = max(0, int(ranged[1]) - self.server.range_shift)
        end = min(int(ranged[2] or len(data) - 1), len(data) - 1)
        if start >= len(data):
            self.send_error(416, "Range Not Satisfiable")
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end + 1 - start))
        self.end_headers()
        self.server.ranged.append(start)
        self.wfile.write(data[start:end + 1])

    def copyfile(self, source, outputfile):
        """Copy the body, or only ``cut`` bytes and then drop the connection."""
        cut = self.server.next_cut()
        if cut is None:
            super().copyfile(source, outputfile)
            return
        outputfile.write(source.read(cut))
        self.close_connection = True


class ArchiveServer(ThreadingHTTPServer):
    """HTTP server for ``folder`` on 127.0.0.1 (a free port), run in a thread as a context manager.

    ``cut_next(n)`` makes the next response stop after ``n`` bytes although its Content-Length
    announces the whole file, as a dropped connection does. ``gets`` counts the GET requests
    answered with a whole file; ``ranged`` lists the first byte of each ranged one (``Range:
    bytes=a-`` or ``bytes=a-b``, answered with 206 unless ``ignore_ranges``, then with the whole
    file; ``range_shift`` bytes earlier than asked when set, as a faulty server).
    ``refuse_head=True`` makes it answer HEAD with 403.
    """

    daemon_threads = True

    def __init__(self, folder: Path, refuse_head: bool = False, ignore_ranges: bool = False):
        super().__init__(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
        self.refuse_head, self.ignore_ranges = refuse_head, ignore_ranges
        self.ranged: list[int] = []
        self.range_shift = 0
        self._cuts: list[int] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self.gets = 0

    def url(self, name: str) -> str:
        """The URL of the file ``name`` in the served folder."""
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"

    def cut_next(self, nbytes: int) -> None:
        """Cut the next response after ``nbytes`` bytes of its body."""
        with self._lock:
            self._cuts.append(nbytes)

    def next_cut(self) -> int | None:
        """Count a GET; the byte count to cut it at, None to send it whole."""
        with self._lock:
            self.gets += 1
            return self._cuts.pop(0) if self._cuts else None

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()


@contextmanager
def refused_url(name: str = "archive.tar") -> Iterator[str]:
    """A URL on 127.0.0.1 whose port is held bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/{name}"
