"""One module per client; importing this package registers every check."""

from conformance.clients import (  # noqa: F401 - imported for their @check registrations
    awscli_checks,
    boto3_access_checks,
    boto3_checks,
    boto3_edge_checks,
    boto3_more_checks,
    rclone_checks,
    rest_checks,
    storage3_checks,
    storagejs_checks,
    tusjs_checks,
    tuspy_checks,
)
