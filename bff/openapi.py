"""GET /api/openapi.json: the gateway's HTTP API as an OpenAPI 3.1 document, written by hand."""

from __future__ import annotations

from flask import Blueprint, jsonify

from bff import openapi_photos
from bff.job_state import JobState
from tessera import formats

bp = Blueprint("openapi", __name__, url_prefix="/api")

_IMAGE_TYPES = {mime: {} for mime in formats.MIME_TYPES}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_UPLOAD_ERRORS = {
    "400": _error("A field is missing or invalid (style, strength, scale, format, image, an empty style_image or "
                  "mix_image, a look field), the form is cut off (incomplete_form) or unreadable, a part has no "
                  "name (unnamed_field), a file field came as text (not_a_file) or a text field as a file "
                  "(not_text), a field came more than once (repeated_field), a field the route's form does "
                  "not have, or any query parameter (unknown_field, suggesting the field it may be a typo of), "
                  "the output format cannot hold the image (too_large_for_format: WebP holds 16383 px per "
                  "side, JPEG 65500), or the inference server refused the image (its message says why)."),
    "404": _error("No style has that id, or no stored photo has the photo_id (it may have expired)."),
    "413": _error("The upload exceeds the byte limit, or the image the pixel limit (see GET /api/limits)."),
    "415": _error("The file is not a PNG, JPEG or WebP image (judged by its content)." + openapi_photos.NOT_A_FORM),
    "422": _error("The image, or a style_image / mix_image, is damaged or truncated (the message says which: "
                  "\"The style image ...\", \"The style image to mix in ...\")."),
    "429": _error("Too many images in progress (busy), or no room left for the result beside the results this "
                  "gateway keeps (results_full); retry after the Retry-After seconds."),
    "503": _error("No inference server can be reached."),
}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "The unguessable id from POST /api/jobs."}
_UNKNOWN_JOB = _error("No such job: it has expired (its expires_at has passed) or was deleted, or never existed.")
_JOB_BUSY = _error("Too many images in progress (busy), or the finished results this gateway keeps until they "
                   "expire (--max-result-mb) leave no room for another (results_full); retry after the "
                   "Retry-After seconds (for results_full: until enough of them have expired).")
_BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The unguessable id from POST /api/batches."}

# The look fields (bff.look_form) of every form that restyles: /api/stylize, /api/jobs and /api/batches.
_LOOK_FIELDS = {
    "keep_colors": {"type": "boolean", "default": False,
                    "description": "Keep the photo's colours: the result's luminance with the photo's chroma. Works "
                                   "for every style."},
    "style_image": {"type": "string", "contentMediaType": "application/octet-stream",
                    "description": "A painting (PNG, JPEG or WebP) to use as the style; only for styles whose kind "
                                   "is 'conditioned' and that accept style images."},
    "preset": {"type": "string", "description": "A preset id of a conditioned style, instead of style_image."},
    "mix_image": {"type": "string", "contentMediaType": "application/octet-stream",
                  "description": "A second painting to mix in (needs style_image or preset)."},
    "mix_preset": {"type": "string", "description": "A second preset to mix in, instead of mix_image."},
    "mix": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5,
            "description": "Share of the second style; the first gets 1 - mix. Style codes are mixed, not pixels."},
}
# The form files an error's `field` may name: a page says such an error where that file was chosen.
NAMED_FILE_FIELDS = ("style_image", "mix_image")

_SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error", "message", "status"],
        "properties": {
            "error": {"type": "string", "description": "Machine-readable kind, e.g. unsupported_format."},
            "message": {"type": "string", "description": "A sentence for people."},
            "status": {"type": "integer", "description": "The HTTP status code again."},
            "field": {"type": "string", "enum": list(NAMED_FILE_FIELDS),
                      "description": "The form file the error is about, when it is a style image."},
        },
    },
    "Style": {
        "type": "object", "required": ["id", "name", "version", "status", "preview_url"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
            "name": {"type": "string"}, "description": {"type": "string"},
            "credits": {"type": "string"}, "license": {"type": "string"},
            "version": {"type": "integer", "description": "Serving version; 0 when none is valid."},
            "status": {"type": "string", "enum": ["SERVING", "UNAVAILABLE"]},
            "status_message": {"type": "string"}, "pinned": {"type": "boolean"},
            "preview_url": {"type": ["string", "null"], "description": "Preview JPEG, or null without one."},
            "kind": {"type": "string", "enum": ["fixed", "conditioned"],
                     "description": "conditioned: the look comes from presets, style images and mixes."},
            "strength_mode": {"type": ["string", "null"], "enum": ["pixel_mix", "style_code", None],
                              "description": "pixel_mix: strength s gives round(s * styled + (1 - s) * photo) "
                                             "per pixel, so a page may mix a strength-1 result with the photo "
                                             "itself; style_code: the model runs again for each strength; "
                                             "null from older servers."},
            "has_critic": {"type": "boolean", "description": "The serving version ships a critic: send "
                                                             "explain=true to see what it sees (docs/explain.md)."},
            "accepts_style_images": {"type": "boolean",
                                     "description": "True when style_image and mix_image work with this style."},
            "presets": {"type": "array", "items": {"$ref": "#/components/schemas/Preset"},
                        "description": "Named looks of a conditioned style; empty for fixed styles."},
        },
    },
    "Preset": {
        "type": "object", "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
            "name": {"type": "string"}, "credits": {"type": "string"}, "license": {"type": "string"},
            "preview_url": {"type": ["string", "null"], "description": "The preset's source image, small."},
        },
    },
    "StyleList": {
        "type": "object", "required": ["styles"],
        "properties": {"styles": {"type": "array", "items": {"$ref": "#/components/schemas/Style"}}},
    },
    "Limits": {
        "type": "object", "required": ["max_upload_bytes", "max_pixels", "max_batch_photos", "max_batch_bytes",
                                       "formats"],
        "properties": {
            "max_upload_bytes": {"type": "integer", "description": "Largest image file accepted, in bytes."},
            "max_pixels": {"type": "integer", "description": "Largest width × height accepted (upright)."},
            "max_aspect_ratio": {"type": "integer", "description": "Longest side over shortest side at most "
                                                                   "(a longer, thinner image is 400 bad_shape)."},
            "max_style_image_pixels": {"type": "integer", "description": "Largest width × height of a style "
                                                                         "image (style_image, mix_image)."},
            "max_batch_photos": {"type": "integer", "description": "Most photos in one batch (POST /api/batches: "
                                                                   "`images` files, or the photos of its zip)."},
            "max_batch_bytes": {"type": "integer", "description": "Largest total of a batch's photo files, in "
                                                                  "bytes (a zip's: their unpacked sizes)."},
            "formats": {"type": "array", "items": {"$ref": "#/components/schemas/Format"}},
            "unread_formats": {"type": "array", "description": "Well-known image formats that are refused "
                                                               "(HEIC, AVIF, TIFF, BMP), each a label and a "
                                                               "signature as in formats, so that a client can "
                                                               "say what a refused file is.",
                               "items": {"type": "object", "properties": {
                                   "label": {"type": "string"},
                                   "signature": {"type": "array", "items": {"type": "array"}}}}},
            "clips": {"type": "object", "description": "Video clips (POST /api/jobs): longest duration in "
                                                       "seconds, most megapixels over all frames, containers "
                                                       "read and written.",
                      "properties": {"max_seconds": {"type": "number"}, "max_megapixels": {"type": "number"},
                                     "containers": {"type": "array", "items": {"type": "string"}},
                                     "outputs": {"type": "array", "items": {"type": "string"}}}},
            "photos": {"type": "object", "description": "Stored photos (POST /api/photos): most kept per client "
                                                        "address, seconds each lives, the previews' long side, "
                                                        "the long side scale 'auto' paints larger photos at, and "
                                                        "where they are kept: memory (this gateway's) or redis "
                                                        "(the shared job store, which may write them to disk).",
                       "properties": {"max_per_client": {"type": "integer"}, "ttl_s": {"type": "number"},
                                      "preview_size": {"type": "integer"},
                                      "default_work_side": {"type": "integer"},
                                      "store": {"type": "string", "enum": ["memory", "redis"]}}},
        },
    },
    "Format": {
        "type": "object", "required": ["name", "label", "mime_type", "extension", "max_side", "signature"],
        "properties": {
            "name": {"type": "string", "enum": list(formats.NAMES)},
            "label": {"type": "string"}, "mime_type": {"type": "string"}, "extension": {"type": "string"},
            "max_side": {"type": ["integer", "null"],
                         "description": "Largest width or height this format can be written in; null: none."},
            "signature": {"type": "array", "description": "[offset, hex bytes] pairs a file's start must hold.",
                          "items": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}},
        },
    },
    "StylizeForm": {
        "type": "object", "required": ["style"],
        "description": "The photo is the `image` file or the stored photo `photo_id` names (exactly one).",
        "properties": {
            "image": {"type": "string", "contentMediaType": "application/octet-stream",
                      "description": "PNG, JPEG or WebP photo; EXIF orientation honoured, metadata dropped. "
                                     "POST /api/jobs also takes a video clip here (see createJob)."},
            "photo_id": {"type": "string", "description": "A photo stored with POST /api/photos, instead of "
                                                          "`image` (404 unknown_photo when it has expired)."},
            "style": {"type": "string", "description": "A style id from GET /api/styles."},
            "strength": {"type": "number", "minimum": 0, "maximum": 1, "default": 1,
                         "description": "1 is fully styled. For a style whose strength_mode is pixel_mix, 0 returns "
                                        "the photo unchanged; for style_code (the any-painting styles) it moves "
                                        "the look toward the photo's own, so 0 paints the photo in its own style."},
            "format": {"type": "string", "enum": [*formats.NAMES, "mp4", "webm"],
                       "description": "Output format; the input's format when absent. mp4 and webm are for "
                                      "clips only."},
            "scale": {"type": ["number", "string"], "default": "auto",
                      "description": "Brush scale: a number in (0, 1], the model's working resolution over the "
                                     "photo's (the result is enlarged guided by the photo), or 'auto': long side "
                                     "1024 px for larger photos, full size otherwise."},
            "explain": {"type": "boolean", "default": False,
                        "description": "Also draw what the style's critic sees: a realism map and Grad-CAM as PNG "
                                       "heat maps of the result's size (docs/explain.md). Only for styles with "
                                       "has_critic (400 no_critic otherwise)."},
            **_LOOK_FIELDS,
        },
    },
    "JobForm": {
        "type": "object", "required": ["style"],
        "description": "StylizeForm's fields, and for a clip its temporal_blend.",
        "allOf": [{"$ref": "#/components/schemas/StylizeForm"}],
        "properties": {
            "temporal_blend": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.9,
                               "description": "Clips only: the largest share of the previous output frame, "
                                              "warped along the clip's optical flow, in each output frame "
                                              "(steadier, less flicker; still pixels may get up to 0.97); "
                                              "0 turns it off. docs/video.md."},
        },
    },
    "Job": {
        "type": "object", "required": ["id", "state", "done", "total"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": [state.value for state in JobState]},
            "done": {"type": "integer", "description": "Tiles finished (frames, for a clip)."},
            "total": {"type": "integer", "description": "Tiles in the image (frames in the clip); 0 until known."},
            "version": {"type": "integer", "description": "Model version that produced the result."},
            "status": {"type": "integer", "description": "HTTP status of the failure, once failed."},
            "error": {"type": "string", "description": "Machine-readable kind of the failure, once failed."},
            "message": {"type": "string", "description": "Why the job failed."},
            "queue_position": {"type": ["integer", "null"],
                               "description": "1 = the next job to start; always set while queued, null "
                                              "otherwise."},
            "eta_s": {"type": ["number", "null"],
                      "description": "Estimated seconds until done: a running job's from its own tiles so far, a "
                                     "queued job's from the work ahead and the throughput measured on finished "
                                     "jobs; null until that is known, and once the job is done or failed."},
            "expires_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "Once finished: when the result (and result_url) stops working."},
            "status_url": {"type": "string"},
            "events_url": {"type": "string"},
            "result_url": {"type": "string"},
            "maps": {"type": "object", "description": "Once done, for a job sent with explain=true: the URL of "
                                                      "each heat map (GET /api/jobs/{job_id}/maps/{name}).",
                     "properties": {"realism": {"type": "string"}, "gradcam": {"type": "string"}}},
        },
    },
    "BatchForm": {
        "type": "object", "required": ["style"],
        "description": "Photos in `images` (repeat the field) or one zip in `archive`; one set of options.",
        "properties": {
            "images": {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                       "description": "PNG, JPEG or WebP photos."},
            "archive": {"type": "string", "contentMediaType": "application/zip",
                        "description": "A zip of photos (folders ignored; sizes and ratios checked first; "
                                       "entries that are no photo are skipped and listed in `skipped`). "
                                       "Not together with `images` (400 invalid_batch); a zip without "
                                       "files is 400 missing_field."},
            "style": {"type": "string"}, "strength": {"type": "number", "minimum": 0, "maximum": 1},
            "format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
            "scale": {"type": ["number", "string"], "default": "auto",
                      "description": "Brush scale, as for /api/stylize."},
            **_LOOK_FIELDS,
        },
    },
    "Batch": {
        "type": "object",
        "required": ["id", "state", "total_photos", "finished_photos", "done_photos", "failed_photos", "photos"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string", "enum": ["running", "finished"]},
            "version": {"type": ["integer", "null"],
                        "description": "The model version every photo is restyled with: the style's serving "
                                       "version when the batch was accepted, named by number in each photo's "
                                       "job, so a version published or pinned meanwhile does not split the "
                                       "batch. A photo whose version has been retired for good fails with 410 "
                                       "version_gone. Null for a batch recorded before batches held one."},
            "total_photos": {"type": "integer"}, "finished_photos": {"type": "integer"},
            "done_photos": {"type": "integer"}, "failed_photos": {"type": "integer"},
            "cancelled_photos": {"type": "integer", "description": "Of the failed photos, those cancelled "
                                                                    "(their error is `cancelled`)."},
            "tiles_done": {"type": "integer"}, "tiles_total": {"type": "integer",
                                                               "description": "Of the photos started so far."},
            "status_url": {"type": "string"}, "result_url": {"type": "string"},
            "photos": {"type": "array", "description": "One job per photo, in upload order, with its name.",
                       "items": {"$ref": "#/components/schemas/BatchPhoto"}},
            "skipped": {"type": "array", "description": "The zip's entries that were not restyled, in its order: "
                                                       "a path leading out of the zip (never read), a hidden "
                                                       "file, or a file that is no PNG, JPEG or WebP image. "
                                                       "The result's errors.txt lists them too.",
                        "items": {"type": "object", "required": ["name", "reason"],
                                  "properties": {"name": {"type": "string",
                                                          "description": "The entry's path in the zip."},
                                                 "reason": {"type": "string"}}}},
        },
    },
    "BatchPhoto": {
        "description": "One photo's job, as its own status says it but for queue_position and eta_s.",
        "allOf": [{"$ref": "#/components/schemas/Job"}, {
            "type": "object", "required": ["name"],
            "properties": {
                "name": {"type": "string", "description": "The photo's file name, as uploaded."},
                "expires_at": {"type": "string", "format": "date-time",
                               "description": "Only once the photo has finished (done or failed): when its "
                                              "result_url and image_url stop working."},
                "image_url": {"type": "string", "description": "The photo as uploaded, while its job is kept "
                                                               "(absent once it has expired)."},
            }}],
    },
}

_FORM_BODY = {"required": True,
              "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/StylizeForm"}}}}
_JOB_FORM_BODY = {"required": True,
                  "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/JobForm"}}}}

_PATHS = {
    "/api/styles": {"get": {
        "summary": "List the styles", "operationId": "listStyles",
        "responses": {
            "200": _json("Every style, serving or not.", "StyleList"),
            "503": _UPLOAD_ERRORS["503"]}}},
    "/api/limits": {"get": {
        "summary": "What an upload must fit", "operationId": "limits",
        "responses": {"200": _json("The byte and pixel limits and the accepted formats.", "Limits")}}},
    "/api/styles/{style_id}/preview.jpg": {"get": {
        "summary": "A style's preview image", "operationId": "stylePreview",
        "parameters": [{"name": "style_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "JPEG preview.", "content": {"image/jpeg": {}}},
                      "404": _error("Unknown style, or it has no preview."), "503": _UPLOAD_ERRORS["503"]}}},
    "/api/styles/{style_id}/presets/{preset_id}/preview.jpg": {"get": {
        "summary": "A preset's preview image (its source image, small)", "operationId": "presetPreview",
        "parameters": [{"name": "style_id", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "preset_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "JPEG preview.", "content": {"image/jpeg": {}}},
                      "404": _error("Unknown style or preset, or it has no preview."),
                      "503": _UPLOAD_ERRORS["503"]}}},
    "/api/stylize": {"post": {
        "summary": "Restyle an image and answer with it", "operationId": "stylize", "requestBody": _FORM_BODY,
        "responses": {"200": {"description": "The restyled image, same size as the upright input. With "
                                             "explain=true a Link header names its heat maps (rel realism-map and "
                                             "gradcam-map), kept as long as a job is.",
                              "content": _IMAGE_TYPES},
                      **_UPLOAD_ERRORS, "504": _error("Restyling took longer than the deadline.")}}},
    "/api/jobs": {"post": {
        "summary": "Start restyling a (large) image or a video clip in the background", "operationId": "createJob",
        "description": "A video clip (MP4, MOV, WebM, animated GIF, WebP or PNG of two frames or more; a "
                       "one-frame WebP or PNG is a photo, a one-frame GIF 415 still_gif) in the `image` field is "
                       "restyled frame by frame into `format` mp4 (H.264) or webm (VP9), default MP4 (WebM for "
                       "WebM sources and odd frame sizes), at its frame rate and size, its audio copied, or "
                       "encoded anew as AAC (MP4) or Opus (WebM) where the container cannot hold it; done and "
                       "total then count frames. Its duration, frame size and total pixels are checked from "
                       "the container's header first (413 clip_too_large; 400 bad_clip, unsupported_output, or "
                       "photo_only_field for explain or scale with a clip, clip_only_field for temporal_blend "
                       "with a photo). docs/video.md. An uploaded image is decoded once before it is queued, "
                       "so one damaged past its header gets 422 here, not a failed job.",
        "requestBody": _JOB_FORM_BODY,
        "responses": {"202": _json("The job was queued; follow events_url, then fetch result_url.", "Job"),
                      **_UPLOAD_ERRORS, "429": _JOB_BUSY,
                      "415": _error("The file is neither a PNG, JPEG or WebP image nor a video clip (MP4, MOV, "
                                    "WebM, animated GIF, WebP or PNG), judged by its content."
                                    + openapi_photos.NOT_A_FORM)}}},
    "/api/jobs/{job_id}": {"get": {
        "summary": "A job's state and progress", "operationId": "jobStatus", "parameters": [_JOB_ID],
        "responses": {"200": _json("Current state.", "Job"), "404": _UNKNOWN_JOB}},
        "delete": {
        "summary": "Cancel a job, or discard a finished one", "operationId": "deleteJob", "parameters": [_JOB_ID],
        "description": "An unfinished job is cancelled: a queued one never starts; a running one stops within a "
                       "tile's or a frame's time and ends failed with status 499, error `cancelled` (kept until "
                       "its expires_at, for whoever follows it). A finished job (done or failed) is discarded "
                       "with its result and heat maps: its URLs answer 404 from then on, before its expires_at. "
                       "A client that only means to cancel sends POST /api/jobs/{job_id}/cancel instead.",
        "responses": {"204": {"description": "Cancel requested, or the finished job discarded."},
                      "404": _UNKNOWN_JOB}}},
    "/api/jobs/{job_id}/cancel": {"post": {
        "summary": "Cancel a job, keeping a finished one", "operationId": "cancelJob", "parameters": [_JOB_ID],
        "description": "Cancels an unfinished job as DELETE does; a job that has already finished is left as it "
                       "is, its result kept until its expires_at (what a Cancel button sends: the job may "
                       "finish while the request travels).",
        "responses": {"204": {"description": "Cancel requested, or the job had already finished."},
                      "404": _UNKNOWN_JOB}}},
    "/api/jobs/{job_id}/events": {"get": {
        "summary": "Follow a job's progress as Server-Sent Events", "operationId": "jobEvents",
        "parameters": [_JOB_ID],
        "responses": {"200": {
            "description": "Events `progress` (data: Job JSON with done and total), then exactly one "
                           "`done` (data: Job JSON with result_url) or `error` (data: Job JSON with status "
                           "and message). Each event has an id; reconnecting with Last-Event-ID resumes "
                           "after it.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            "404": _UNKNOWN_JOB}}},
    "/api/jobs/{job_id}/result": {"get": {
        "summary": "Fetch a finished job's image", "operationId": "jobResult", "parameters": [_JOB_ID],
        "responses": {"200": {"description": "The restyled image, or clip (video/mp4, video/webm).",
                              "content": {**_IMAGE_TYPES, "video/mp4": {}, "video/webm": {}}},
                      "404": _UNKNOWN_JOB, "409": _error("The job has not finished yet: it is queued, or "
                                                         "running (the message says which)."),
                      "503": _error("The job failed because no inference server could be reached.")}}},
    "/api/jobs/{job_id}/maps/{name}": {"get": {
        "summary": "What the style's critic sees in a finished result", "operationId": "jobMap",
        "parameters": [_JOB_ID, {"name": "name", "in": "path", "required": True,
                                 "schema": {"type": "string", "enum": ["realism", "gradcam"]}}],
        "responses": {"200": {"description": "PNG heat map of the result's size: blue 0, white 1/2, red 1 "
                                             "(realism: the critic's probability that a patch is the real style; "
                                             "gradcam: share of the largest push toward its 'real' verdict).",
                              "content": {"image/png": {}}},
                      "404": _error("No such job or map, or the job was not sent with explain=true."),
                      "409": _error("The job has not finished yet.")}}},
    "/api/batches": {"post": {
        "summary": "Restyle several photos with one set of options", "operationId": "createBatch",
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": {"$ref": "#/components/schemas/BatchForm"}}}},
        "responses": {"202": _json("One job per photo was queued; poll status_url, then fetch result_url.",
                                   "Batch"),
                      **_UPLOAD_ERRORS,
                      "413": _error("Too many photos (too_many_batch_photos), too many bytes (too_large), a photo "
                                    "over the limits, or a zip bomb (zip_bomb)."),
                      "422": _error("The zip cannot be read, or a photo is damaged.")}}},
    "/api/batches/{batch_id}": {"get": {
        "summary": "A batch's progress, overall and per photo", "operationId": "batchStatus",
        "parameters": [_BATCH_ID],
        "responses": {"200": _json("Current state.", "Batch"), "404": _error("No such batch, or it has expired.")}},
        "delete": {
        "summary": "Cancel a batch", "operationId": "cancelBatch", "parameters": [_BATCH_ID],
        "description": "Cancels every photo of the batch still queued or running (each ends failed with status "
                       "499, error `cancelled`, as POST /api/jobs/{job_id}/cancel cancels one) and discards "
                       "nothing, unlike DELETE of a finished job: photos already finished stay, downloadable "
                       "until their expires_at, and so do the batch's status and zip, which is how a cancelled "
                       "batch's finished photos are fetched. POST /api/batches/{batch_id}/cancel does the same.",
        "responses": {"204": {"description": "Cancel requested for every unfinished photo."},
                      "404": _error("No such batch, or it has expired.")}}},
    "/api/batches/{batch_id}/cancel": {"post": {
        "summary": "Cancel a batch (as DELETE does)", "operationId": "cancelBatchByPost", "parameters": [_BATCH_ID],
        "description": "Does what DELETE /api/batches/{batch_id} does, which for a batch discards nothing: every "
                       "photo still queued or running is cancelled, those finished stay, and so do the batch's "
                       "status and zip. So a client cancels a job and a batch alike, with POST .../cancel.",
        "responses": {"204": {"description": "Cancel requested for every unfinished photo."},
                      "404": _error("No such batch, or it has expired.")}}},
    "/api/batches/{batch_id}/photos/{index}/image": {"get": {
        "summary": "One photo of a batch, as uploaded", "operationId": "batchPhoto",
        "description": "Kept as long as the photo's job and its result, so a page that reloads can show the "
                       "result over it.",
        "parameters": [_BATCH_ID, {"name": "index", "in": "path", "required": True,
                                   "schema": {"type": "integer", "minimum": 0},
                                   "description": "The photo's place in the batch, from 0 (upload order)."}],
        "responses": {"200": {"description": "The photo's file.", "content": _IMAGE_TYPES},
                      "404": _error("No such batch or photo, or its job has expired.")}}},
    "/api/batches/{batch_id}/result": {"get": {
        "summary": "A zip of the batch's results", "operationId": "batchResult", "parameters": [_BATCH_ID],
        "responses": {"200": {"description": "The restyled photos, each under the name its job downloads under; "
                                             "errors.txt has a line per photo that failed, `<name> (photo <n> of "
                                             "<count>, result <its name in the zip>): <why>`, and per zip entry "
                                             "skipped, `<path in the zip> (skipped): <why>`.",
                              "content": {"application/zip": {}}},
                      "404": _error("No such batch, or it has expired."),
                      "409": _error("Some photos are still queued or running.")}}},
    "/api/openapi.json": {"get": {
        "summary": "This document", "operationId": "openapi",
        "responses": {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}}}}},
    "/healthz": {"get": {
        "summary": "Can the gateway reach an inference server?", "operationId": "health",
        "description": "Checks every configured server on its own; `servers` lists each with `serving`.",
        "responses": {"200": {"description": "At least one server is serving.", "content": {"application/json": {}}},
                      "503": {"description": "No server answers.", "content": {"application/json": {}}}}}},
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Tessera gateway API", "version": "1.0.0",
             "description": "Restyle photos with GAN generators. "
                            "Errors are JSON objects with a message for people."},
    "paths": {**_PATHS, **openapi_photos.paths(_error, _json)},
    "components": {"schemas": {**_SCHEMAS, **openapi_photos.SCHEMAS}},
}


@bp.get("/openapi.json")
def openapi():
    return jsonify(DOCUMENT)


def form_fields(path: str) -> dict[str, dict]:
    """Each field of the form that POST `path` takes, with its schema as this document gives it ({} for a path
    that takes no form). This is the one list of a route's fields: bff.form_limits checks every form against
    it (a field with a contentMediaType is a file, and only an array may be sent more than once)."""
    body = DOCUMENT["paths"].get(path, {}).get("post", {}).get("requestBody")
    if body is None:
        return {}
    schema = body["content"]["multipart/form-data"]["schema"]
    return _properties(schema)


def _properties(schema: dict) -> dict[str, dict]:
    """A form schema's fields: its own properties and those of the schemas it extends (allOf, $ref)."""
    if "$ref" in schema:
        return _properties(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    inherited = {name: field for part in schema.get("allOf", []) for name, field in _properties(part).items()}
    return {**inherited, **schema.get("properties", {})}
