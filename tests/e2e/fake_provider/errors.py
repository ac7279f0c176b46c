"""Errors in each provider's own shape: OpenAI's 400 bodies for refused requests, and the
scripted {"status": ...} steps answered as OpenAI, Azure, TGI or Ollama would."""

_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
           "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
           "username) if you're accessing the API from your browser and are prompted for a username and "
           "password. You can obtain an API key from https://platform.openai.com/account/api-keys.")
_AZURE_401 = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
              "key for an active subscription and use a correct regional API endpoint for your resource.")
_BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
             "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
             "JSON. If you have trouble figuring out how to fix this, please contact us through our help center "
             "at help.openai.com.)")


def _openai_error(message, etype="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


class _Invalid(Exception):
    """A request OpenAI would refuse: carries the 400 body's message, param and code."""

    def __init__(self, message, param=None, code=None):
        super().__init__(message)
        self.body = _openai_error(message, param=param, code=code)


class _ScriptedErrors:
    """Handler mixin: answers a scripted error step."""

    def _scripted_error(self, dialect):
        st = self.step
        status = st.get("status")
        if not status or int(status) < 400:
            return False
        status = int(status)
        headers = dict(st.get("headers") or {})
        ra = st.get("retry_after")
        if ra is not None:
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            if dialect == "azure":
                headers["retry-after-ms"] = str(int(float(ra) * 1000))
        if "body" in st:
            body = st["body"]
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                self._send(status, data, "application/json", headers)
                return True
            self._send_json(status, body, headers)
            return True
        msg = st.get("message")
        if dialect == "azure":
            if status == 429:
                msg = msg or ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                              f"{self.query.get('api-version', [''])[0]} have exceeded token rate limit of your "
                              f"current OpenAI S0 pricing tier. Please retry after {ra or 1} second.")
            body = {"error": {"code": str(status), "message": msg or "The server had an error processing your "
                                                                      "request."}}
        elif dialect == "tgi":
            kind = {429: "overloaded", 503: "overloaded", 422: "validation", 424: "generation"}.get(status,
                                                                                                   "generation")
            body = {"error": msg or ("Model is overloaded" if kind == "overloaded" else "Request failed during "
                                                                                         "generation"),
                    "error_type": kind}
        elif dialect == "ollama":
            body = {"error": msg or ("server busy, please try again.  maximum pending requests exceeded"
                                     if status in (429, 503) else "an unknown error was encountered")}
        else:
            if status == 429:
                body = _openai_error(msg or "Rate limit reached for requests. Please try again in "
                                            f"{ra or 1}s.", "requests", None, "rate_limit_exceeded")
            elif status == 503:
                body = _openai_error(msg or "The engine is currently overloaded, please try again later.",
                                     "server_error")
            elif status >= 500:
                body = _openai_error(msg or "The server had an error while processing your request. Sorry "
                                            "about that!", "server_error")
            else:
                body = _openai_error(msg or "Scripted error.")
        self._send_json(status, body, headers)
        return True
