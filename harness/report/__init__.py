"""The certification report and the go-live gate.

Module map (one concept each; dependencies point up this list):

    errors.py         ReportError: bad input to the report layer, one line for the CLI (exit 2)
    results.py        the plugin's per-test results file, read back as typed records
    waivers.py        the waiver register (requirement, owner, reason, expiry), read and checked
    verdict.py        the gate: outcome per requirement, gate status, waivers, the verdict and its RULES
    evidence_view.py  the run's HAR evidence, per test, redacted once more for the report
    metadata.py       run id, operator, UTC times, certificate expiry, sha256 of catalog/OpenAPI/suites
    model.py          the report document (report.json) built from all of the above; schema validation
    report.schema.json  the published JSON Schema of report.json
    html.py           report.html (page.html + report.css inlined): one self-contained page
    leak_audit.py     the scan of every artefact for card numbers and secrets, with documented exclusions
    signing.py        the ed25519 signing key (PAYCERT_SIGNING_KEY or <out>/.signing-key.pem); SSHSIG signatures
    trust.py          the keys a verifier trusts (--public-key, or an OpenSSH allowed-signers file)
    package.py        the signed certification package (zip + manifest + SSHSIG signature) and verify
    diff.py           behavioural difference between two reports
    runs.py           run directories and the <out>/latest pointer
    console.py        rich tables for certify, report and diff
    run_plugin.py     pytest plugin for certify's child pytest: API selection, progress events,
                      redaction of failure text at the source, one Allure history id per case
    certify.py        orchestration of `paycert certify`
"""
