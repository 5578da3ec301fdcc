"""The demo (issue 8): the real pipeline on a simulated Stripe account with virtual time,
simulated customers with known effects, and the true lift beside the measured one.
Guide: docs/demo.md.

    from worker.demo import DemoConfig, Effects, run_demo
    result = run_demo(DemoConfig(customers=200, days=60, seed=3))
    result.report.to_json()["automations"], result.truth
"""

from worker.demo.behaviour import CustomerBehaviour, Effects
from worker.demo.runner import DemoConfig, DemoResult, run_demo

__all__ = ["CustomerBehaviour", "DemoConfig", "DemoResult", "Effects", "run_demo"]
