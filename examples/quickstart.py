"""Quick start on the local disk: no server, no credentials.

Run it with `.venv/bin/python examples/quickstart.py`. Point `raw_output_prefix` at
`s3://bucket/prefix/` (and a config such as config-examples/s3-moto.yaml) to do the same
against object storage.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from persist import DataConfig, FileAccessProvider


def main() -> None:
    """Upload a folder, bytes and a text buffer, then download them again."""
    work = Path(tempfile.mkdtemp(prefix="persist-quickstart-"))
    config = DataConfig.from_yaml(Path(__file__).parent.parent / "config-examples" / "local.yaml")
    provider = FileAccessProvider(
        local_sandbox_dir=work / "sandbox",
        raw_output_prefix=str(work / "store"),
        data_config=config,
        execution_metadata={"run": "quickstart"},
    )

    data = work / "data"
    (data / "nested").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "nested" / "b.txt").write_text("hello")

    folder_uri = provider.put_raw_data(data, upload_prefix="run-1", file_name="data")
    bytes_uri = provider.put_raw_data(b"\x00\x01\x02", upload_prefix="run-1", file_name="blob.bin")
    text_uri = provider.put_raw_data(io.StringIO("caf\u00e9"), upload_prefix="run-1", file_name="note.txt")
    print(f"uploaded folder -> {folder_uri}")
    print(f"uploaded bytes  -> {bytes_uri}")
    print(f"uploaded text   -> {text_uri}")

    back = work / "back"
    provider.download_directory(folder_uri, str(back))
    provider.download(text_uri, str(back / "note.txt"))
    for path in sorted(p for p in back.rglob("*") if p.is_file()):
        print(f"downloaded {path.relative_to(back)}: {path.read_bytes()!r}")
    print(f"exists({bytes_uri}) = {provider.exists(bytes_uri)}")
    print(f"everything is in {work}: look around, then delete it")


if __name__ == "__main__":
    main()
