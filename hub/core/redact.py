"""Credentials out of URLs and of text that may hold URLs, before anything is shown, logged or published.

Cameras and recorders put credentials in URLs in several ways, and every one of them must come out:
- userinfo: `rtsp://admin:secret@10.0.0.5/…` → `rtsp://admin:***@10.0.0.5/…`;
- query parameters with the usual names: `?usr=admin&pwd=secret`, `?password=`, `?token=`, `?auth=`, `?key=` …;
- vendor paths that look like a query: `/user=admin&password=secret&channel=1` and the underscore form
  `/user=admin_password=secret_channel=1` (DVRs and NVRs of several makers).
User names are kept (maintenance needs to know which account a camera uses); every value that can open something
is replaced by `***`. `redact_text` applies the same to every URL-like run in a message (an exception's text).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"

# Parameter names whose values open something. Matched whole, case-insensitively.
SECRET_NAMES = (
    "password",
    "passwd",
    "pass",
    "pwd",
    "pw",
    "psw",
    "token",
    "access_token",
    "auth",
    "authorization",
    "key",
    "apikey",
    "api_key",
    "secret",
    "signature",
    "sig",
    "credential",
    "credentials",
    "session",
    "sessionid",
)
_NAMES = "|".join(sorted(SECRET_NAMES, key=len, reverse=True))
# name=value after ?, &, ;, / or _ (the vendor path forms); the value runs to the next separator, where an
# underscore ends it only when another `name=` follows (a password may itself contain underscores).
_PARAM_RE = re.compile(rf"(?i)((?:^|[?&;/_,(\s])(?:{_NAMES})=)((?:(?!_[a-z][a-z0-9]*=)[^&;#\s/'\"<>])*)")
# user:password@ in the authority of any scheme.
_USERINFO_RE = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]*@")
# URL-like runs in free text.
_URL_RE = re.compile(r"(?i)[a-z][a-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """`url` with every credential it carries replaced by `***`."""
    url = _USERINFO_RE.sub(rf"\g<1>{MASK}@", url)
    return _PARAM_RE.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), url)


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (and any bare `password=…` style pair)."""
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    return _PARAM_RE.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), text)


_installed = threading.Lock()
_done = False


def install_log_redaction() -> None:
    """Every log record of the process, whichever library makes it (httpx logs each request's full URL), has its
    message redacted as it is created: the last line of defence behind the redaction at each source. Idempotent."""
    global _done
    with _installed:
        if _done:
            return
        make = logging.getLogRecordFactory()

        def redacting(*args: object, **kwargs: object) -> logging.LogRecord:
            record = make(*args, **kwargs)
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return record  # a malformed format: logging reports it itself when it formats the record
            cleaned = redact_text(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            return record

        logging.setLogRecordFactory(redacting)
        _done = True
