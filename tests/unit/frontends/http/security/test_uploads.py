"""Upload quotas and the upload folder's size."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gte_ui.core.settings import Settings
from gte_ui.frontends.http.security.uploads import UploadQuota, folder_bytes


def test_folder_bytes_counts_files_below_and_zero_for_a_missing_folder(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"x" * 5)
    assert folder_bytes(str(tmp_path)) == 15 and folder_bytes(str(tmp_path / "none")) == 0


def test_upload_quota_counts_uploads_per_client_and_the_folder_cap(tmp_path):
    async def ok(request):
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/gradio_api/upload", ok, methods=["POST"])])
    settings = Settings(max_uploads_per_minute=2, max_upload_total_bytes=100)
    client = TestClient(UploadQuota(inner, settings, folder=lambda: str(tmp_path)))
    assert [client.post("/gradio_api/upload", content=b"x").status_code for _ in range(3)] == [200, 200, 429]
    (tmp_path / "big").write_bytes(b"x" * 100)
    full = TestClient(UploadQuota(inner, settings, folder=lambda: str(tmp_path)))
    assert full.post("/gradio_api/upload", content=b"x").status_code == 507
