"""Schemathesis against the running platform's /openapi.json: every operation, generated and
mutated requests, as a key with every scope and as no one (OWASP API8, misconfiguration).

Zero failures of: not_a_server_error (no 500), status_code_conformance (every status is
documented), response_schema_conformance (every body matches its schema) and ignored_auth
(an operation that requires a key refuses a request without one).
"""

from __future__ import annotations

import subprocess
import sys

from reliability.platform_harness import STADSNAV, Platform

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,ignored_auth"


def test_every_operation_conforms_to_the_served_openapi_document(platform: Platform) -> None:
    create = ["keys", "create", str(platform.workspace), "--owner=schemathesis", "--plan=internal"]
    create += ["--scope=admin", "--scope=read", "--scope=write"]
    issued = subprocess.run(
        [*STADSNAV, *create], env=platform.env, capture_output=True, text=True, check=True
    )
    platform.start()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{platform.url}/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"X-API-Key: {issued.stdout.strip()}",
            "--max-examples",
            "25",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=platform.workspace.parent,  # where schemathesis leaves its cache
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert platform.process is not None
    assert platform.process.poll() is None, "the platform must survive the run"
