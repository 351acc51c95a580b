"""Static configuration of the local sandbox (TEST/SANDBOX ONLY)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Identity and timing knobs the simulators share.

    Runtime knobs that tests flip (faults, disconnected mode, ...) live in the mutable state,
    not here; this object is fixed for the life of the app.
    """

    # Z-API puts the instance id and token in the URL path; a mismatch is answered with an error.
    zapi_instance_id: str = "SANDBOX-INSTANCE"
    # Fake, public credentials of the simulator; never real secrets.
    zapi_instance_token: str = "sandbox-instance-token"  # noqa: S105
    # Account security token sent by clients in the `Client-Token` header.
    zapi_client_token: str = "sandbox-client-token"  # noqa: S105
    # Number of the simulated WhatsApp line (`connectedPhone` in ReceivedCallback).
    zapi_connected_phone: str = "554499999999"
    # Base URL clients use to reach the sandbox; media URLs are built from it.
    public_base_url: str = "http://127.0.0.1:8900"
    # Timeout for each webhook POST towards the service under test.
    webhook_timeout_seconds: float = 10.0
    # Pause between DeliveryCallback and each MessageStatusCallback step after a send.
    status_step_delay_seconds: float = 0.0
