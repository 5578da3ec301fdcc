"""stripe-lifecycle: the engine and processes (everything except the action handlers).

Layers, from the inside out (see ../shared/ARCHITECTURE.md):
  worker.core     pure functions: model, MRR, stages, triggers, outcomes (no I/O, no logging)
  worker.rules    rule-file loading and validation (YAML with line numbers)
  worker.store    SQLAlchemy models, migrations, sessions
  worker.runtime  broker, leader lock, scheduler, actors
  worker.cli      the `stripe-lifecycle` command
"""

__version__ = "0.1.0"
