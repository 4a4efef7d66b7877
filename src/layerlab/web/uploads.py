"""An uploaded image, read with limits: bytes counted as they arrive, pixels checked before decoding.

The page posts the image as multipart/form-data in the field `image`. The body is read through a
counter that stops at `max_bytes` (whatever Content-Length claims, and for chunked uploads that
claim nothing); the image's header is then read (no pixel decoded) and refused when it declares
more than `max_pixels` pixels, so a small PNG that inflates to gigabytes never inflates here.
"""

from __future__ import annotations

import io
from typing import AsyncIterator

from PIL import UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from layerlab.data.imagefile import open_image
from layerlab.errors import LayerlabError

MAX_UPLOAD_BYTES = 8 * 1024 * 1024    # a phone photo as JPEG is 2-5 MB
MAX_UPLOAD_PIXELS = 40_000_000        # 40 MP: larger than any phone camera, far below a bomb
_FORM_OVERHEAD = 16 * 1024            # multipart boundaries and part headers around the file


class UploadError(LayerlabError):
    """A refused upload; `status` is the HTTP status the web app answers with."""

    status = 400


class TooLarge(UploadError):
    status = 413


class NotAnImage(UploadError):
    status = 415


async def read_upload(request: Request, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of the form's `image` file; UploadError (one line) for anything else."""
    declared = request.headers.get("content-length", "")
    limit = max_bytes + _FORM_OVERHEAD
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the upload is {int(declared):,} bytes; the limit is {max_bytes:,} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadError("send the image as multipart/form-data in the field 'image'")
    parser = MultiPartParser(request.headers, _capped(request.stream(), limit, max_bytes), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadError(f"the form could not be read: {exc.message}") from None
    try:
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise UploadError("the form has no file in the field 'image'")
        data = await upload.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise TooLarge(f"the image is over the limit of {max_bytes:,} bytes")
    if not data:
        raise UploadError("the uploaded file is empty")
    return data


async def _capped(stream: AsyncIterator[bytes], limit: int, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body, stopped with TooLarge as soon as more than `limit` bytes have arrived."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(f"the upload is over the limit of {max_bytes:,} bytes")
        yield chunk


def check_image(data: bytes, *, max_pixels: int = MAX_UPLOAD_PIXELS) -> tuple[int, int]:
    """(width, height) from the image's header; NotAnImage or TooLarge before any pixel is decoded."""
    try:
        with open_image(io.BytesIO(data), "the upload", max_pixels=max_pixels) as image:
            return image.size
    except UnidentifiedImageError:
        raise NotAnImage("the upload is not an image this server can read (PNG, JPEG, BMP, GIF, TIFF or WebP)") from None
    except LayerlabError as exc:   # over the pixel limit, or a decompression bomb
        raise TooLarge(str(exc).replace("; pass max_pixels=N to open larger images", "")) from None
    except OSError as exc:
        raise NotAnImage(f"the upload is not a readable image ({exc})") from None
