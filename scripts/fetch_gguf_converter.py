"""Install time only: unpack llama.cpp's GGUF converter from the pinned llama-cpp-python source distribution.

`convert_hf_to_gguf.py`, its `conversion/` package and its matching `gguf-py/` ship inside that sdist (PyPI
has no wheel of it and the converter is on no index by itself). Only those files are kept, in the folder
the studio looks in (`studio.training.gguf_export.converter_dir()`). A no-op when they are already there.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from studio.training.gguf_export import CONVERTER_VERSION, converter_dir  # noqa: E402

KEEP = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/gguf/", "LICENSE")


def main() -> int:
    dest = converter_dir()
    if (dest / "convert_hf_to_gguf.py").is_file():
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "--no-binary", ":all:", f"llama-cpp-python=={CONVERTER_VERSION}", "-d", tmp], check=True)
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        prefix = f"llama_cpp_python-{CONVERTER_VERSION}/vendor/llama.cpp/"
        staging = Path(tmp) / "converter"
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)
                       and m.name[len(prefix):].startswith(KEEP)]
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(staging, members=members, filter="data")
        sdist.unlink()
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(staging, dest)
    print(f"GGUF converter from llama-cpp-python {CONVERTER_VERSION} unpacked in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
