"""Local simulators of external services for tests and demos (TEST/SANDBOX ONLY)."""

from seleto_agent.sandbox.app import create_sandbox_app
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.sandbox.server import run_sandbox

__all__ = ["SandboxConfig", "create_sandbox_app", "run_sandbox"]
