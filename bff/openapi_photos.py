"""The OpenAPI parts of /api/photos (bff/api_photos.py): schemas and paths, merged into bff.openapi's document.

Each path declares every query parameter its route reads, and bff.form_limits.check_query refuses any other
(400 unknown_field) and any sent twice (400 repeated_field) before the route runs.
"""

from __future__ import annotations

from collections.abc import Callable

# The 415 every upload route gives a body that is no form (bff.form_limits.check_form).
NOT_A_FORM = (" Or the body is no form (not_a_form: JSON, say, or multipart/form-data without its boundary); "
              "send multipart/form-data.")

PHOTO_ID = {"name": "photo_id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "The unguessable id from POST /api/photos."}

SCHEMAS = {
    "Photo": {
        "type": "object",
        "required": ["id", "width", "height", "format", "bytes", "expires_at", "expires_in_s", "url", "image_url",
                     "thumbnail_url", "previews_url"],
        "properties": {
            "id": {"type": "string", "description": "128 random bits; the only key to the photo."},
            "width": {"type": "integer", "description": "Upright width in pixels (EXIF orientation applied)."},
            "height": {"type": "integer"},
            "format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
            "bytes": {"type": "integer", "description": "Size of the stored file."},
            "expires_at": {"type": "string", "format": "date-time",
                           "description": "When the photo is forgotten (UTC); fixed at upload."},
            "expires_in_s": {"type": "integer"},
            "url": {"type": "string"}, "image_url": {"type": "string", "description": "The file as uploaded."},
            "thumbnail_url": {"type": "string",
                              "description": "The photo at preview size: the pixels every preview is made from."},
            "previews_url": {"type": "string"},
        },
    },
    "PreviewList": {
        "type": "object", "required": ["photo", "previews"],
        "properties": {
            "photo": {"$ref": "#/components/schemas/Photo"},
            "previews": {"type": "array", "items": {"$ref": "#/components/schemas/PreviewLook"}},
        },
    },
    "PreviewLook": {
        "type": "object", "required": ["style", "preset", "name", "version", "kind", "featured", "url"],
        "properties": {
            "style": {"type": "string"}, "preset": {"type": ["string", "null"]},
            "name": {"type": "string"}, "version": {"type": "integer"},
            "kind": {"type": "string", "enum": ["fixed", "conditioned"]},
            "strength_mode": {"type": ["string", "null"], "enum": ["pixel_mix", "style_code", None],
                              "description": "pixel_mix: strength mixes the strength-1 preview with the "
                                             "thumbnail per pixel, which a page may do itself; style_code: ask "
                                             "again with ?strength=."},
            "featured": {"type": "boolean",
                         "description": "Part of the collection's grid, which a page shows and asks for at "
                                        "once after the upload: every fixed style and each conditioned "
                                        "style's first preset. The others are painted smaller (--more-looks-size) "
                                        "and enlarged, and the shipped page asks for them only when they "
                                        "are seen."},
            "url": {"type": "string", "description": "The preview JPEG (GET it; add ?strength= or &strength=)."},
        },
    },
}


def paths(error: Callable[[str], dict], json_body: Callable[[str, str], dict]) -> dict:
    """The /api/photos paths, built with bff.openapi's response helpers."""
    unknown = error("No such photo, or it has expired (upload it again).")
    photo_response = json_body("The stored photo and its links.", "Photo")
    return {
        "/api/photos": {"post": {
            "summary": "Upload a photo once; later previews, restyles and jobs name it by id",
            "operationId": "uploadPhoto",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["image"],
                "properties": {"image": {"type": "string", "contentMediaType": "application/octet-stream",
                                         "description": "PNG, JPEG or WebP photo."}}}}}},
            "responses": {
                "201": photo_response,
                "400": error("No image, an empty one, or one side over 1000 times the other; a field other than "
                             "image, or any query parameter (unknown_field)."),
                "413": error("The file exceeds the byte limit, or the image the pixel limit (from its header)."),
                "415": error("Not a PNG, JPEG or WebP file." + NOT_A_FORM),
                "422": error("The image is damaged or cut short."),
                "429": error("This address keeps too many photos (too_many_photos), or the gateway's photo "
                             "memory is full (photo_store_full); checked before the body is read."),
                "503": error("The Redis job store cannot be reached.")}}},
        "/api/photos/{photo_id}": {
            "get": {"summary": "A stored photo's facts and links", "operationId": "photo",
                    "parameters": [PHOTO_ID], "responses": {"200": photo_response, "404": unknown}},
            "delete": {"summary": "Forget a photo now", "operationId": "deletePhoto", "parameters": [PHOTO_ID],
                       "responses": {"204": {"description": "Forgotten; jobs made from it keep their copy."},
                                     "404": unknown}}},
        "/api/photos/{photo_id}/image": {"get": {
            "summary": "The stored file as uploaded", "operationId": "photoImage", "parameters": [PHOTO_ID],
            "responses": {"200": {"description": "The file.", "content": {"image/png": {}, "image/jpeg": {},
                                                                          "image/webp": {}}}, "404": unknown}}},
        "/api/photos/{photo_id}/thumbnail.jpg": {"get": {
            "summary": "The photo at preview size", "operationId": "photoThumbnail", "parameters": [PHOTO_ID],
            "responses": {"200": {"description": "JPEG, long side --preview-size (512) px.",
                                  "content": {"image/jpeg": {}}},
                          "404": unknown, "422": error("The photo is damaged past its header.")}}},
        "/api/photos/{photo_id}/previews": {"get": {
            "summary": "Every look the photo can be previewed in, with URLs", "operationId": "photoPreviews",
            "parameters": [PHOTO_ID],
            "responses": {"200": json_body("Fixed styles, then each preset of each conditioned style.",
                                           "PreviewList"),
                          "404": unknown, "503": error("No inference server can be reached.")}}},
        "/api/photos/{photo_id}/previews/{style_id}": {"get": {
            "summary": "The photo's thumbnail restyled with one style", "operationId": "photoPreview",
            "parameters": [
                PHOTO_ID,
                {"name": "style_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "preset", "in": "query", "schema": {"type": "string"},
                 "description": "A preset of a conditioned style; default its first."},
                {"name": "strength", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1,
                                                               "default": 1}},
                {"name": "keep_colors", "in": "query", "schema": {"type": "boolean", "default": False}},
                {"name": "scale", "in": "query", "schema": {"type": ["number", "string"]},
                 "description": "Brush scale in (0, 1] or 'auto': the full result at that scale, shrunk to the "
                                "preview (exact up to a working long side of twice the preview size; header "
                                "X-Tessera-Preview-Exact). Absent: the model runs on the thumbnail itself, "
                                "or for a look that is not featured on its copy at --more-looks-size "
                                "(320 px), enlarged to the thumbnail's size."},
                {"name": "v", "in": "query", "schema": {"type": "integer"},
                 "description": "The style's version; only busts caches."}],
            "responses": {"200": {"description": "JPEG, the thumbnail's size; cacheable privately until the "
                                                 "photo expires.", "content": {"image/jpeg": {}}},
                          "400": error("A bad strength or scale, a preset for a fixed style, a query parameter "
                                       "not listed here (unknown_field, suggesting the one it may be a typo "
                                       "of) or one sent twice (repeated_field)."),
                          "404": error("No such photo (expired), style or preset."),
                          "422": error("The photo is damaged past its header."),
                          "429": error("The inference servers are busy."),
                          "503": error("No inference server can be reached, or the style has no valid "
                                       "version.")}}},
    }
