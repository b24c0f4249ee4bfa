"""tus-js-client (npm), the resumable-upload client supabase-js documents, run by Node.js
against `/upload/resumable`; the checks live in conformance/js/tus_checks.mjs."""

from __future__ import annotations

from conformance.clients.storagejs_checks import JS_DIR, NodeSuite
from conformance.runner import EXTERNAL


class TusJsSuite(NodeSuite):
    client = "tus-js"
    script = JS_DIR / "tus_checks.mjs"


EXTERNAL["tus-js"] = TusJsSuite()
