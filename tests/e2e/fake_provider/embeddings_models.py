"""OpenAI embeddings (deterministic unit vectors) and the model listing."""
import base64
import hashlib
import struct
from urllib.parse import unquote

from .common import _is_int, words
from .errors import _BAD_JSON, _openai_error


def _embedding(text, dims):
    raw = b""
    counter = 0
    while len(raw) < 4 * dims:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    v = [int.from_bytes(raw[4 * i:4 * i + 4], "little") / 2 ** 31 - 1.0 for i in range(dims)]
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in v]


class _EmbeddingsModels:
    """Handler mixin: POST /v1/embeddings (and Azure's), GET /v1/models[/{id}]."""

    def _embeddings(self, model=None, dialect="openai"):
        if self.bad_json:
            return self._send_json(400, _openai_error(_BAD_JSON))
        b = self.body if isinstance(self.body, dict) else {}
        if model is None:
            model = b.get("model")
            if not isinstance(model, str) or not model:
                return self._send_json(400, _openai_error("you must provide a model parameter"))
            if self.provider.known_models_only and model not in self.provider.openai_models:
                return self._send_json(404, _openai_error(
                    f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"))
        inp = b.get("input")
        if isinstance(inp, str) or (isinstance(inp, list) and inp and all(_is_int(x) for x in inp)):
            inp = [inp]
        valid = isinstance(inp, list) and inp and all(
            (isinstance(x, str) and x) or (isinstance(x, list) and x and all(_is_int(t) for t in x)) for x in inp)
        if not valid:
            return self._send_json(400, _openai_error("'$.input' is invalid. Please check the API reference: "
                                                      "https://platform.openai.com/docs/api-reference.",
                                                      param="input"))
        dims = b.get("dimensions", 8)
        if not _is_int(dims) or dims < 1:
            return self._send_json(400, _openai_error("Invalid 'dimensions'.", param="dimensions"))
        fmt = b.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return self._send_json(400, _openai_error(
                f"Invalid value: '{fmt}'. Supported values are: 'float' and 'base64'.", param="encoding_format",
                code="invalid_value"))
        data, n = [], 0
        for i, x in enumerate(inp):
            text = x if isinstance(x, str) else " ".join(map(str, x))
            n += len(words(x)) if isinstance(x, str) else len(x)
            vec = _embedding(text, dims)
            emb = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if fmt == "base64" else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        out = {"object": "list", "data": data, "model": model}
        if not self.step.get("no_usage"):
            out["usage"] = {"prompt_tokens": n, "total_tokens": n}
        self._reply(out, self._common_headers(dialect))

    def _model_obj(self, mid):
        return {"id": mid, "object": "model", "created": 1686935002, "owned_by": "system"}

    def _models(self):
        self._send_json(200, {"object": "list", "data": [self._model_obj(m) for m in self.provider.openai_models]},
                        self._common_headers("openai"))

    def _model(self):
        mid = unquote(self.route[len("/v1/models/"):])
        if mid not in self.provider.openai_models:
            return self._send_json(404, _openai_error(f"The model '{mid}' does not exist", param="model",
                                                      code="model_not_found"))
        self._send_json(200, self._model_obj(mid), self._common_headers("openai"))
