"""Old import path of `create_api` and `ApiContext`, kept so branches written before the web layer was split still
import; new code imports hub.web.app and hub.web.context. Remove once those branches are merged."""

from __future__ import annotations

from hub.web.app import create_api as create_api
from hub.web.context import ApiContext as ApiContext
