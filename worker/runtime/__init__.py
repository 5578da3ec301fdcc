"""Runtime (wiring layer): the per-process `Runtime` and its `Queue` port, the worker boot,
broker, leader lock, scheduler and the process assembly (`run`, `scheduler`, `web`).
See docs/architecture.md."""
